# syntax=docker/dockerfile:1
# gatehouse as a sidecar image. Build: docker build -t gatehouse .
# Run:   docker run -v $PWD/gatehouse.yaml:/etc/gatehouse/gatehouse.yaml:ro -p 8080:8080 gatehouse
# The config is read from /etc/gatehouse/gatehouse.yaml ($GATEHOUSE_CONFIG). The bundled example
# config takes its key file, store and admin address from the environment set below: assertion
# keys and the SQLite store go to /var/lib/gatehouse (mount a volume there so they survive
# restarts),
# and the admin listener binds all interfaces of the pod so that kubelet probes reach it.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS deps
# better-sqlite3 is a native addon: its install step compiles when no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts skips the package's own `prepare` (a TypeScript build: dist/ comes from the
# build stage); the native addon is then built explicitly.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    GATEHOUSE_CONFIG=/etc/gatehouse/gatehouse.yaml \
    GATEHOUSE_KEY_FILE=/var/lib/gatehouse/gatehouse-keys.json \
    GATEHOUSE_STORE_URL=sqlite:/var/lib/gatehouse/gatehouse.db \
    GATEHOUSE_ADMIN_LISTEN=0.0.0.0:8081
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config.example.yaml /etc/gatehouse/gatehouse.yaml
# Owner-only: the store and key files in it hold private keys.
RUN install -d -m 0700 -o node -g node /var/lib/gatehouse
USER node
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8081/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/gatehouse.js"]
CMD ["start"]
