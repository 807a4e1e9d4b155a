#!/usr/bin/env bash
# Install the system packages the test suite needs, when they are missing.
#
#   wordnet-base, wordnet-sense-index   WordNet 3.0 for METEOR (nltk.download needs a network;
#                                       these Debian packages do not)
#   chromium                            the headless browser of the web app's browser tests
#                                       (driven by Playwright; never `playwright install`)
#
# As root on Debian or Ubuntu the missing ones are installed with apt-get. Anywhere else the
# script says what to run and exits 1. WordNet that nltk already finds ($NLTK_DATA or
# ~/nltk_data) is used as it is; so is a chromium already on the PATH.
set -euo pipefail

have_wordnet() {
  [ -f /usr/share/wordnet/data.noun ] && [ -f /usr/share/wordnet/index.sense ] && return 0
  for root in "${NLTK_DATA:-}" "$HOME/nltk_data"; do
    [ -n "$root" ] && [ -f "$root/corpora/wordnet/lexnames" ] && return 0
  done
  return 1
}

have_chromium() {
  [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1
}

needed=()   # Debian packages still missing
why=()      # what each group is for
if ! have_wordnet; then
  needed+=(wordnet-base wordnet-sense-index)
  why+=("WordNet for METEOR")
fi
if ! have_chromium; then
  needed+=(chromium)
  why+=("Chromium for the web app's browser tests")
fi
[ ${#needed[@]} -eq 0 ] && exit 0

reason=$(IFS=';'; echo "${why[*]}" | sed 's/;/, /g')

if command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
  missing=()
  for p in "${needed[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && missing=("${needed[@]}")
  if [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${missing[*]} ($reason)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    exit 0
  fi
  echo "error: missing system packages ($reason); run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "error: missing system packages ($reason) and this is not a Debian-like system:" >&2
if ! have_wordnet; then
  echo "  .venv/bin/python -m nltk.downloader -d ~/nltk_data wordnet   (needs a network)" >&2
fi
if ! have_chromium; then
  echo "  install Chromium so that 'chromium' is on the PATH (or set SWEETIECHAT_CHROMIUM)" >&2
fi
exit 1
