#!/usr/bin/env bash
# The pull-request check of docs/ci.md: build the spec as the pull request has it, write the
# eval cases as JUnit XML, write `ftspec diff --format markdown` against the branch the pull
# request targets as a comment body, and fail when an eval case regressed.
#
#   examples/ci/pr-check.sh SPEC [BASE_REF]
#
# BASE_REF (default origin/main) is compared through its merge base with HEAD, so commits that
# landed on the base branch after the pull request forked are not blamed on it.
# Environment: FTSPEC (the command, default "ftspec"), FTSPEC_CI_OUT (default ftspec-ci/),
# and the provider's API key variable the spec names.
# Writes $FTSPEC_CI_OUT/comment.md, junit.xml and diff.json. Exit 0 ok, 1 regression or error.
set -euo pipefail

spec=${1:?usage: pr-check.sh SPEC [BASE_REF]}
base_ref=${2:-origin/main}
out=${FTSPEC_CI_OUT:-ftspec-ci}
read -r -a ftspec <<< "${FTSPEC:-ftspec}"
mkdir -p "$out"

base=$(git merge-base "$base_ref" HEAD)
echo "pr-check: $spec against $base_ref (merge base ${base:0:12})"

"${ftspec[@]}" validate "$spec"
spec_in_repo=$(git ls-files --full-name --error-unmatch "$spec")
if ! git cat-file -e "$base:$spec_in_repo" 2>/dev/null; then
  "${ftspec[@]}" build "$spec"
  "${ftspec[@]}" eval "$spec" --junit "$out/junit.xml"
  printf '## ftspec: %s\n\nA new spec: nothing to compare with on %s.\n' "$spec_in_repo" "$base_ref" > "$out/comment.md"
  exit 0
fi
"${ftspec[@]}" build "$spec"
"${ftspec[@]}" eval "$spec" --junit "$out/junit.xml"

# one diff, three uses: the comment body, the machine-readable record, the gate
status=0
"${ftspec[@]}" diff "$spec" "$base" --format markdown --fail-on-regression > "$out/comment.md" || status=$?
"${ftspec[@]}" diff "$spec" "$base" --json --no-examples > "$out/diff.json"
if [ "$status" -ne 0 ]; then
  echo "pr-check: eval cases regressed against $base_ref; see $out/comment.md" >&2
fi
exit "$status"
