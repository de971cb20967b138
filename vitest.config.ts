import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  SIGNING_KEY: "test-signing-key-0123456789abcdef0123456789abcdef",
                  PUBLIC_URL: "https://pushdrop.test",
                  // the stubbed push service of test/worker/push.test.ts (nothing listens there)
                  PUSH_ENDPOINT_HOSTS: "127.0.0.1:9",
                  // every request of these tests comes from one (unknown) address: the
                  // per-address limits would stop them; test/worker/limits.test.ts checks them
                  LIMIT_REGISTRATIONS_PER_ADDRESS_HOUR: "1000000",
                  LIMIT_REQUESTS_PER_ADDRESS_MINUTE: "1000000",
                  // the format's own limits (MAX_PACKAGE_BYTES…) are tested with the operator's
                  // size quotas out of the way; test/worker/limits.test.ts tests those
                  LIMIT_FILE_BYTES: String(2 ** 40),
                  LIMIT_TRANSFER_BYTES: String(2 ** 40),
                  LIMIT_PENDING_BYTES_PER_RECIPIENT: String(2 ** 50),
                  LIMIT_PENDING_BYTES_PER_SENDER: String(2 ** 50),
                  // a fixed VAPID pair for tests only (npm start makes its own into .dev.vars)
                  VAPID_PUBLIC_KEY: "BOiMAgUQs9wIOdTQFLEwjZAhicx_U3fv2lFHTvrU7S6ErxHsmSEO6GCRabThQ5RKYl2MDz3bi-gky4MWv1GPlEg",
                  VAPID_PRIVATE_KEY: "qUxn_igp8l-sm16DbXISYHSDPnMjxnC94_EW48c4YDc",
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/worker/**/*.test.ts"],
            setupFiles: ["./test/worker/apply-migrations.ts"],
            testTimeout: 60_000,
          },
        },
        {
          test: {
            name: "node",
            include: ["test/node/**/*.test.ts"],
            environment: "node",
            testTimeout: 300_000,
            hookTimeout: 180_000,
            fileParallelism: false,
          },
        },
        {
          // the pushdrop command (cli/): unit tests, and the real CLI run as child processes against npm start
          test: {
            name: "cli",
            include: ["test/cli/**/*.test.ts"],
            environment: "node",
            testTimeout: 300_000,
            hookTimeout: 180_000,
            fileParallelism: false,
          },
        },
        {
          // the web app in headless Chromium (Debian's /usr/bin/chromium through playwright-core).
          // groupOrder 1: after the workers project, not beside it (a browser beside workerd on 2
          // cores made timing-sensitive worker tests flaky); vitest then runs the projects without
          // file parallelism (node, cli) one file at a time
          test: {
            name: "browser",
            sequence: { groupOrder: 1 },
            include: ["test/browser/**/*.test.ts"],
            environment: "node",
            testTimeout: 180_000,
            hookTimeout: 180_000,
            fileParallelism: false,
          },
        },
      ],
    },
  };
});
