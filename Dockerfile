# The stagerun image, for the GitLab component (its `image` input), the
# Kubernetes Job and the Argo workflow in examples/: stagerun, the OpenSSH
# client, git and the CA certificates, run as a non-root user (10001).
#
# stagerun is not compiled here: the build context is a folder that
# scripts/image.sh lays out from verified release tarballs (make dist, or a
# downloaded release), one binary per platform at <os>/<arch>/stagerun:
#   make image IMAGE=registry.example.com/tools/stagerun:0.2.0
#   docker buildx build --platform linux/amd64,linux/arm64 -f Dockerfile target/image …
# BASE_IMAGE: a Debian-based image; pin it by digest for a repeatable build.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

# No version pins: a Debian release's mirror keeps only the current security
# update of each package, so a pin would break the next rebuild; the base
# image (by digest) fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates git openssh-client \
  && rm -rf /var/lib/apt/lists/*

# CI systems check the repository out as another user (GitLab's helper, Argo's
# executor run as root): without this, git refuses the checkout ("dubious
# ownership") and stagerun's log push fails.
RUN useradd --uid 10001 --user-group --create-home --shell /bin/sh stagerun \
  && git config --system --add safe.directory '*'

# Set by buildx for each platform; a classic `docker build` leaves it empty.
ARG TARGETPLATFORM
COPY ${TARGETPLATFORM:-linux/amd64}/stagerun /usr/local/bin/stagerun

ARG VERSION=unknown
LABEL org.opencontainers.image.title="stagerun" \
  org.opencontainers.image.description="stagerun, openssh-client, git and ca-certificates for the deploy-staging step" \
  org.opencontainers.image.version="${VERSION}" \
  org.opencontainers.image.licenses="MIT"

# Numeric, so that Kubernetes' runAsNonRoot can check it. No ENTRYPOINT: GitLab
# runs its job script with the image's shell, Kubernetes names the command.
USER 10001:10001
WORKDIR /home/stagerun
CMD ["stagerun", "--help"]
