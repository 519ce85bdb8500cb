## Berth conda template v1: a conda environment becomes an image in two stages.
##
## Lines starting with "##" document the template and are not rendered. {{name}} marks a value
## filled in by src/builder/conda/conda-dockerfile.ts; a placeholder alone on its line disappears
## when its value is empty. The build id is a hash of the rendered text, so a released version is
## never edited in place: copy it to conda-micromamba-v2.Dockerfile and bump condaTemplateVersion.
##
## Stage "builder": micromamba solves the environment file from the build context and installs it
## into /opt/conda together with the base packages, prints the explicit lock file between Wave's
## markers so that the build log keeps it, then empties the package caches.
# berth conda template v1
FROM {{platformFlag}}{{mambaImage}} AS builder
COPY environment.yml /tmp/environment.yml
RUN micromamba install -y -n base -f /tmp/environment.yml \
{{basePackagesInstall}}
    && micromamba env export --name base --explicit > /tmp/environment.lock \
    && echo ">> CONDA_LOCK_START" \
    && cat /tmp/environment.lock \
    && echo "<< CONDA_LOCK_END" \
    && micromamba clean --all --yes

## Final stage: the base image with the environment copied in. The base image's user, working
## directory and entrypoint stay as they were; conda's bin directory goes first on PATH and the
## file's `variables` become ENV, because nothing activates the environment in a container.
FROM {{platformFlag}}{{baseImage}}
COPY --from=builder /opt/conda /opt/conda
ENV MAMBA_ROOT_PREFIX=/opt/conda
ENV PATH="/opt/conda/bin:$PATH"
{{environmentVariables}}
