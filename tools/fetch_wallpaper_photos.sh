#!/usr/bin/env bash
# Copies 22 photographs (nature, objects, landscapes) out of two Debian wallpaper
# packages into OUT, one file per photo, named after it: more real photos for the
# training split of tools/make_photo_crops.py (--extra-dir OUT). Nothing is installed:
# the packages are downloaded with `apt-get download` and unpacked with `dpkg -x`
# into a temporary folder, which is removed.
#   mate-backgrounds (nature/: 12 photos)
#   plasma-workspace-wallpapers (10 of its wallpapers that are photographs; the
#   others are renders or drawings)
# Usage: tools/fetch_wallpaper_photos.sh OUT
set -euo pipefail
out=${1:?usage: $0 OUT}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download mate-backgrounds plasma-workspace-wallpapers >/dev/null)
for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/x"; done
n=0
for f in "$tmp"/x/usr/share/backgrounds/mate/nature/*.jpg; do
    cp "$f" "$out/mate-$(basename "$f")"; n=$((n + 1))
done
for w in BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey \
         OneStandsOut Path summer_1am; do
    dir="$tmp/x/usr/share/wallpapers/$w/contents/images"
    # the largest rendition of the wallpaper
    f=$(ls -S "$dir" | head -1)
    [ -n "$f" ] || { echo "$w: no image in $dir" >&2; exit 1; }
    cp "$dir/$f" "$out/plasma-$w.${f##*.}"; n=$((n + 1))
done
echo "copied $n photos to $out"
