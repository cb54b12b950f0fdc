//! `postiqo-api bootstrap`: creates the table and the bucket. Idempotent.

use postiqo_storage::RepoError;

use crate::config::BootstrapSettings;

pub async fn run(settings: &BootstrapSettings) -> Result<(), RepoError> {
    let origins = settings
        .allowed_origins
        .iter()
        .map(|o| o.as_str().to_owned())
        .collect();
    postiqo_storage::bootstrap(&settings.storage, origins).await
}
