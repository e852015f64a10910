#!/usr/bin/env bash
# Debian packages the annual book needs: TeX (xelatex) for the PDF, DejaVu fonts,
# Chromium for the browser test and the print-to-PDF fallback, poppler-utils for
# looking at PDF pages. Idempotent and quick when everything is already there.
# Never fails the caller: prints plainly what could not be installed and why.
#
#   scripts/install_system_deps.sh            # everything
#   scripts/install_system_deps.sh chromium   # one group: tex | fonts | chromium | poppler
set -u

declare -A GROUP=(
  [fonts]="fonts-dejavu"
  [tex]="texlive-xetex texlive-lang-cyrillic texlive-fonts-recommended texlive-latex-extra latexmk"
  [chromium]="chromium"
  [poppler]="poppler-utils"
)
groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(fonts tex chromium poppler)

wanted=()
for g in "${groups[@]}"; do
  [ -n "${GROUP[$g]+x}" ] || { echo "install_system_deps: неизвестная группа '$g' (есть: ${!GROUP[*]})"; exit 2; }
  for p in ${GROUP[$g]}; do wanted+=("$p"); done
done

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${wanted[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_system_deps: всё уже установлено (${wanted[*]})"
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_system_deps: не установлено (нужны root и apt-get): ${missing[*]}"
  echo "  установите вручную: sudo apt-get install -y --no-install-recommends ${missing[*]}"
  echo "  без TeX PDF книги печатается из HTML через Chromium; без Chromium — только HTML."
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
echo "install_system_deps: ставлю ${missing[*]}"
apt-get update -qq >/dev/null 2>&1 || echo "install_system_deps: apt-get update не удался, пробую с имеющимися списками"
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/vsoko_apt.log 2>&1; then
  # one by one, so that one unavailable package does not block the others
  for p in "${missing[@]}"; do
    apt-get install -y -qq --no-install-recommends "$p" >>/tmp/vsoko_apt.log 2>&1 || true
  done
fi

still=()
for p in "${missing[@]}"; do installed "$p" || still+=("$p"); done
if [ ${#still[@]} -eq 0 ]; then
  echo "install_system_deps: установлено: ${missing[*]}"
else
  echo "install_system_deps: НЕ удалось установить: ${still[*]} (журнал: /tmp/vsoko_apt.log)"
  echo "  без TeX PDF книги печатается из HTML через Chromium; без Chromium — только HTML."
fi
exit 0
