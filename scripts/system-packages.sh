#!/usr/bin/env bash
# Install the system packages the test suite needs, when they are missing.
#
#   wordnet-base, wordnet-sense-index   WordNet 3.0 for METEOR (nltk.download needs a network;
#                                       these Debian packages do not)
#
# As root on Debian or Ubuntu they are installed with apt-get. Anywhere else the script says
# what to run and exits 1. WordNet that nltk already finds ($NLTK_DATA or ~/nltk_data) is used
# as it is, and nothing is installed.
set -euo pipefail

packages=(wordnet-base wordnet-sense-index)

have_wordnet() {
  [ -f /usr/share/wordnet/data.noun ] && [ -f /usr/share/wordnet/index.sense ] && return 0
  for root in "${NLTK_DATA:-}" "$HOME/nltk_data"; do
    [ -n "$root" ] && [ -f "$root/corpora/wordnet/lexnames" ] && return 0
  done
  return 1
}

have_wordnet && exit 0

if command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${missing[*]} (WordNet for METEOR)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    exit 0
  fi
  echo "error: WordNet is missing (METEOR needs it); run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "error: WordNet is missing (METEOR needs it) and this is not a Debian-like system; run:" >&2
echo "  .venv/bin/python -m nltk.downloader -d ~/nltk_data wordnet   (needs a network)" >&2
exit 1
