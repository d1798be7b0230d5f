# Images for Kubernetes: `conflux` (conflux-node and the conflux CLI, for the StatefulSet pods and
# the backup/restore Jobs) and `conflux-operator`. Build them with `make images`.
#
#   docker build --target conflux          -t conflux:0.1.0 .
#   docker build --target conflux-operator -t conflux-operator:0.1.0 .
#
# Both run as the non-root user 65532 (the charts' securityContext) and need nothing writable but
# their volumes. The node image keeps Debian's sh and coreutils: the operator's backup and restore
# Jobs and the restore wrapper run `sh -c` with cp, mv, ls and tail.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY . .
# `npm ci` runs the `prepare` script, which compiles TypeScript to dist/; then dev dependencies go.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /opt/conflux
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
RUN ln -s /opt/conflux/dist/node/src/cli/conflux-node.js /usr/local/bin/conflux-node \
 && ln -s /opt/conflux/dist/node/src/cli/conflux.js /usr/local/bin/conflux \
 && ln -s /opt/conflux/dist/operator/src/cli.js /usr/local/bin/conflux-operator \
 && chmod +x dist/node/src/cli/conflux-node.js dist/node/src/cli/conflux.js dist/operator/src/cli.js
USER 65532:65532

FROM runtime AS conflux
# The StatefulSet gives the command (conflux-node, or the restore wrapper) and its flags.
EXPOSE 7070 7071
ENTRYPOINT ["conflux-node"]

FROM runtime AS conflux-operator
# The chart's Deployment gives only the flags.
EXPOSE 8080
ENTRYPOINT ["conflux-operator"]
