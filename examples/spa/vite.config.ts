import { defineConfig } from "vite";

// The SPA must be on the same *site* as the API (SameSite=Lax session cookies): in development
// both are on `localhost`, on different ports (different origins, so CORS and CSRF are real).
const port = Number(process.env.SPA_PORT ?? 5173);

export default defineConfig({
  server: { host: "127.0.0.1", port, strictPort: true },
  preview: { host: "127.0.0.1", port, strictPort: true },
  build: { target: "es2022", sourcemap: true },
});
