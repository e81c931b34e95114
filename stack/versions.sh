# Pinned versions of every Go-built component of the local stack. The cache key
# of each built tool is its version, so changing a line here rebuilds that tool.
TEMPORAL_CLI_VERSION=v1.5.1
ETCD_VERSION=v3.6.4
KUBERNETES_VERSION=v1.34.4
KWOK_VERSION=v0.7.0
