#!/usr/bin/env bash
# The check step of the composite action (../action.yml). Its inputs arrive as environment
# variables, so no input is ever part of the script's text. WHEELWATCH is the executable.
set -o pipefail

case "$INPUT_FAIL_ON_FINDINGS" in
  true | false) ;;
  *)
    echo "::error title=wheelwatch::the fail-on-findings input must be true or false"
    exit 2
    ;;
esac

args=(check)
if [ -n "$INPUT_AS_OF" ]; then args+=(--as-of "$INPUT_AS_OF"); fi
# Paths are separated by whitespace; globbing is off so that a pattern stays a name.
set -f
# shellcheck disable=SC2206
paths=($INPUT_PATHS)
set +f

status=0
"$WHEELWATCH" "${args[@]}" --format "${INPUT_FORMAT:-github}" ${paths[@]+"${paths[@]}"} || status=$?
if [ -n "$INPUT_SARIF_FILE" ]; then
  sarif=0
  "$WHEELWATCH" "${args[@]}" --format sarif ${paths[@]+"${paths[@]}"} > "$INPUT_SARIF_FILE" || sarif=$?
  # The same files give the same verdict; only a failure to write the SARIF differs.
  if [ "$sarif" -gt "$status" ]; then status=$sarif; fi
fi

echo "exit-code=$status" >> "${GITHUB_OUTPUT:-/dev/null}"
if [ "$status" -eq 1 ] && [ "$INPUT_FAIL_ON_FINDINGS" = false ]; then exit 0; fi
exit "$status"
