# berth conda template v1
FROM mambaorg/micromamba:1.5.10-noble AS builder
COPY environment.yml /tmp/environment.yml
RUN micromamba install -y -n base -f /tmp/environment.yml \
    && micromamba install -y -n base conda-forge::procps-ng \
    && micromamba env export --name base --explicit > /tmp/environment.lock \
    && echo ">> CONDA_LOCK_START" \
    && cat /tmp/environment.lock \
    && echo "<< CONDA_LOCK_END" \
    && micromamba clean --all --yes

FROM ubuntu:24.04
COPY --from=builder /opt/conda /opt/conda
ENV MAMBA_ROOT_PREFIX=/opt/conda
ENV PATH="/opt/conda/bin:$PATH"
