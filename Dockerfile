# Container image of the license API for Cloud Run.
#
# Python is pinned to 3.11, the version pyproject.toml and the tests use. For a release build,
# pin the base image by digest as well (docs/runbook.md, "Build the image").
# One image serves both Cloud Run services: the container arguments (set per service by the
# stack) select the functions-framework target, `--target=licenses` or `--target=sweep`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LICENSE_DATA_DIR=/tmp/license-data

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY main.py ./
COPY functions ./functions

USER 65534:65534
EXPOSE 8080
# functions-framework reads the port from PORT, which Cloud Run sets.
ENTRYPOINT ["functions-framework", "--source=main.py"]
CMD ["--target=licenses"]
