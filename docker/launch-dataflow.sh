#!/usr/bin/env bash
# Launch a corpusforge pipeline on Google Cloud Dataflow with the worker image from docker/Dockerfile.
#   PROJECT=my-project REGION=europe-west4 BUCKET=gs://my-bucket docker/launch-dataflow.sh \
#     documents -i gs://my-bucket/corpora/wiki_zh -o gs://my-bucket/out/documents
# Needs: the apache-beam[gcp]==2.77.0 extra on the launcher (pip install -e . 'apache-beam[gcp]==2.77.0'),
# gcloud credentials, and the image pushed to a registry Dataflow can pull from.
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET (gs://...)}"
IMAGE="${IMAGE:-${REGION}-docker.pkg.dev/${PROJECT}/corpusforge/corpusforge-worker:0.5.0}"
command="$1"
shift
exec corpusforge build "${command}" "$@" \
  --runner=DataflowRunner --project="${PROJECT}" --region="${REGION}" \
  --temp_location="${BUCKET}/tmp" --staging_location="${BUCKET}/staging" \
  --sdk_container_image="${IMAGE}" --sdk_location=container \
  --experiments=use_runner_v2 --max_num_workers="${MAX_WORKERS:-16}"
