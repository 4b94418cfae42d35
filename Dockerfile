# Container image of the license API for Cloud Run.
#
# Python is pinned to 3.11, the version pyproject.toml and the tests use. For a release build,
# pin the base image by digest as well (docs/runbook.md, "Build the image").
# One image serves both Cloud Run services: FUNCTION_TARGET (set per service by the stack)
# selects the functions-framework target, `licenses` or `sweep`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FUNCTION_TARGET=licenses \
    LICENSE_DATA_DIR=/tmp/license-data

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY main.py ./
COPY functions ./functions

USER 65534:65534
EXPOSE 8080
# functions-framework reads the target from FUNCTION_TARGET and the port from PORT.
CMD ["functions-framework", "--source=main.py"]
