"""The Edgeway control plane: admin API, versioned store over etcd, stages, config discovery."""
