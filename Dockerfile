# The controller image the Helm chart runs (helm/meshroll: image.repository, command ["meshroll"]).
#   docker build -t ghcr.io/meshroll/meshroll:$(python -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])') .
# Not built on the development machines (they have no Docker engine); the same steps are checked
# by tests/helm/test_image.py in a virtualenv.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rollout ./rollout
COPY chaos ./chaos
COPY analysis ./analysis
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# git: the controller's --gitops-repo clones and fetches with it.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 65532 --user-group --no-create-home --home-dir /tmp meshroll
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels meshroll && rm -rf /wheels
# The chart mounts /var/lib/meshroll (state) and /tmp and makes the root filesystem read-only.
ENV HOME=/tmp PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/matplotlib
USER 65532:65532
ENTRYPOINT ["meshroll"]
CMD ["controller", "--help"]
