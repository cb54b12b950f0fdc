import { defineConfig } from "@playwright/test";

// Drives the machine's own Chromium (Debian's package, /usr/bin/chromium): nothing is
// downloaded. scripts/browser-test starts the stack and sets the URLs below.
export default defineConfig({
  testDir: "tests",
  timeout: 90_000,
  globalTimeout: 300_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  // The JSON report gives scripts/browser-test its closing "N passed, N failed" line.
  reporter: [["list"], ["json", { outputFile: "test-results/results.json" }]],
  outputDir: "test-results",
  use: {
    browserName: "chromium",
    headless: true,
    viewport: { width: 1200, height: 900 },
    actionTimeout: 15_000,
    navigationTimeout: 20_000,
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      // Chromium's own background connections are refused on a closed network; keep it quiet.
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
});
