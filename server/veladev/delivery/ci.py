"""CI snippets that call VelaUX's trigger webhook after a build, with the webhook URL (which
holds the token) kept in a CI secret variable, never in the repository."""

from __future__ import annotations

from pathlib import Path

# The seed's GitLab CI job (VelaUX "Manual Trigger" -> "Curl Command"), with the image built
# from the commit. $VELAUX_WEBHOOK_URL is a masked CI/CD variable.
GITLAB_JOB = """\
# Added by veladev: deploy the pushed commit through the VelaUX trigger.
# Set VELAUX_WEBHOOK_URL (Settings > CI/CD > Variables, masked and protected) to
# <VelaUX address>/api/v1/webhook/<token>; the token is a secret.
stages:
  - request

webhook-request:
  stage: request
  image: alpine:3.20
  variables:
    BUILD_IMAGE: "{image}"
  before_script:
    - apk add --update curl && rm -rf /var/cache/apk/*
  script:
    - |
      curl --fail-with-body -sS -X POST -H "Content-Type: application/json" -d '{{"upgrade":{{"{component}":{{"image":"'"$BUILD_IMAGE"'"}}}},"codeInfo":{{"user":"'"$CI_COMMIT_AUTHOR"'","commit":"'"$CI_COMMIT_SHA"'","branch":"'"$CI_COMMIT_BRANCH"'"}}}}' "$VELAUX_WEBHOOK_URL"
"""

GITHUB_WORKFLOW = """\
# Added by veladev: deploy the pushed commit through the VelaUX trigger.
# Set the repository secret VELAUX_WEBHOOK_URL (Settings > Secrets and variables > Actions) to
# <VelaUX address>/api/v1/webhook/<token>; the token is a secret.
name: velaux-trigger
on:
  push:
    branches: ["{branch}"]
jobs:
  webhook-request:
    runs-on: ubuntu-latest
    steps:
      - name: Trigger the VelaUX workflow
        env:
          VELAUX_WEBHOOK_URL: ${{{{ secrets.VELAUX_WEBHOOK_URL }}}}
        run: |
          BUILD_IMAGE="{image}"
          curl --fail-with-body -sS -X POST -H "Content-Type: application/json" -d '{{"upgrade":{{"{component}":{{"image":"'"$BUILD_IMAGE"'"}}}},"codeInfo":{{"user":"'"$GITHUB_ACTOR"'","commit":"'"$GITHUB_SHA"'","branch":"'"$GITHUB_REF_NAME"'"}}}}' "$VELAUX_WEBHOOK_URL"
"""

TARGETS = {"gitlab": ".gitlab-ci.yml", "github": ".github/workflows/velaux-trigger.yml"}


class CiError(Exception):
    pass


def ci_image(template: str, target: str, component: str) -> str:
    """The image template with the CI system's own variables for commit and branch."""
    sha, short, branch = (
        ("$CI_COMMIT_SHA", "$CI_COMMIT_SHORT_SHA", "$CI_COMMIT_REF_SLUG")
        if target == "gitlab"
        else ("$GITHUB_SHA", "${GITHUB_SHA::7}", "$GITHUB_REF_NAME")
    )
    return (
        template.replace("{short_commit}", short)
        .replace("{commit}", sha)
        .replace("{branch}", branch)
        .replace("{component}", component)
    )


def write_ci(
    repo: Path, target: str, component: str, image_template: str, branch: str = "main", overwrite: bool = False
) -> Path:
    """Write the snippet for `target` (gitlab | github) into the repository; returns its path."""
    if target not in TARGETS:
        raise CiError(f"unknown CI system {target!r}; use gitlab or github")
    path = Path(repo) / TARGETS[target]
    if path.exists() and not overwrite:
        raise CiError(f"{path} already exists; add the webhook job to it by hand, or overwrite it explicitly")
    template = GITLAB_JOB if target == "gitlab" else GITHUB_WORKFLOW
    text = template.format(image=ci_image(image_template, target, component), component=component, branch=branch)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".veladev-tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise CiError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
