# Sourced by the scripts: lets OpenMPI's mpirun run as root (containers, CI) and run more
# ranks than cores. Harmless elsewhere.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
MPIRUN=(mpirun --oversubscribe)
