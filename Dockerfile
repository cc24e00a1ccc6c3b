# syntax=docker/dockerfile:1
# prebuildsd's container image: `docker build -t prebuildsd .`, then
#   docker run -e DATABASE_URL=… prebuildsd migrate   (once per upgrade, as the schema owner)
#   docker run -e DATABASE_URL=… -p 2112:2112 prebuildsd   (the daemon: `prebuildsd run`)
# Checked by test/deploy/dockerfile.test.ts.

# Build stage: install everything, compile TypeScript, then drop the dev dependencies.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: Node 24, the compiled code, production dependencies and the migrations.
FROM node:24-slim
ENV NODE_ENV=production \
    PREBUILDS_LOG_FORMAT=json
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
RUN chmod 0755 /app/dist/src/cli/main.js \
    && ln -s /app/dist/src/cli/main.js /usr/local/bin/prebuildsd
# `prebuildsd` is main.js itself: its first line starts Node.js with the launch flags
# (--max-semi-space-size=4 --heap-growing-percent=50, README "Memory"); an entrypoint that runs
# `node dist/src/cli/main.js` instead must pass them itself (the daemon warns if not).
# The image's unprivileged `node` user (uid 1000); nothing in /app is writable by it.
USER node
# PREBUILDS_HTTP_ADDRESS's default port: /metrics, /healthz, /readyz.
EXPOSE 2112
ENTRYPOINT ["prebuildsd"]
CMD ["run"]
