# berth conda template v1
FROM --platform=linux/arm64 registry.example.org:5000/tools/micromamba:2.1.1 AS builder
COPY environment.yml /tmp/environment.yml
RUN micromamba install -y -n base -f /tmp/environment.yml \
    && micromamba install -y -n base conda-forge::procps-ng 'conda-forge::tini>=0.19' \
    && micromamba env export --name base --explicit > /tmp/environment.lock \
    && echo ">> CONDA_LOCK_START" \
    && cat /tmp/environment.lock \
    && echo "<< CONDA_LOCK_END" \
    && micromamba clean --all --yes

FROM --platform=linux/arm64 quay.io/jupyter/base-notebook:2024-10-07
COPY --from=builder /opt/conda /opt/conda
ENV MAMBA_ROOT_PREFIX=/opt/conda
ENV PATH="/opt/conda/bin:$PATH"
ENV OMP_NUM_THREADS="4"
ENV PROMPT="study \"A\" costs \$5"
