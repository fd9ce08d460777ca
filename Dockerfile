# syntax=docker/dockerfile:1
# Wharf, the Docker Registry v2 token service, as a container image.
#
#   docker build -t wharf .
#   docker run --rm -p 5001:5001 -v wharf-data:/var/lib/wharf wharf
#
# The runtime image holds only dist/, the production node_modules and package.json, runs as
# uid 10001, and writes nothing outside /var/lib/wharf (so it runs with a read-only root
# filesystem). Production deployments: docs/operations.md and deploy/.

# ---- build: compile TypeScript, then drop the dev dependencies --------------------------------
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the root package's `prepare` script compiles src/, which is not here yet;
# copying sources after this layer keeps `npm ci` cached while only the code changes.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# `npm rebuild` runs the dependencies' install scripts skipped above (bcrypt picks its prebuilt
# glibc binary for x64 and arm64: no compiler needed).
RUN npm rebuild \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime -----------------------------------------------------------------------------------
FROM node:22-bookworm-slim AS runtime
# HOST and WHARF_DATA_DIR override server.host and dataDir of a config file. PORT is left unset
# on purpose, so server.port in a config file stays in charge (default 5001).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    WHARF_DATA_DIR=/var/lib/wharf
# A named user for tools that look one up; USER below is numeric so Kubernetes can check
# runAsNonRoot. The data directory belongs to it (a new named volume inherits this ownership);
# the application files stay root-owned, so the process cannot modify its own code.
RUN groupadd --system --gid 10001 wharf \
 && useradd --system --uid 10001 --gid wharf --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin wharf \
 && mkdir -p /var/lib/wharf \
 && chown 10001:10001 /var/lib/wharf \
 && chmod 0700 /var/lib/wharf
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 10001:10001
# Generated keys (keys/ca.pem is the registry's rootcertbundle), the hash key and the demo
# password live here. Nothing else is written: Wharf does not use /tmp, but mount a small
# tmpfs/emptyDir there anyway if you add tooling that might.
VOLUME ["/var/lib/wharf"]
EXPOSE 5001
# No curl in slim images: node itself checks liveness. On another port, set PORT (it also moves
# the server) rather than only server.port in a config file.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||5001)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# main.js handles SIGTERM itself (stop accepting, finish in-flight requests, close the cache).
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["serve"]
