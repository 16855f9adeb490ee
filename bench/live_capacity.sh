#!/usr/bin/env bash
# Live capacity, side by side: how much CPU one live 1080p30 stream costs `newsreel live`, and how
# many such streams this machine holds in real time, against ffmpeg doing the same live ladder.
#
# A 1080p30 H.264 + AAC source (testsrc2 with grain in every frame, so that it is not trivially
# compressible, 8 Mb/s, 2 s GOP, MPEG-TS) is relayed at real-time pace, one relay per stream,
#   ffmpeg -re -i source.ts -c copy -f mpegts -
# into N concurrent workers, N = 1, 2, 3... until they fall behind, for each ladder (default:
# the live default 720,480,360, then 480,360 without the top rung), and for each tool in turn:
#   newsreel live OUT --ladder L --encoder x264 --progress json           (reading stdin)
#   ffmpeg -i pipe:0 (decode once, split, scale to the same rungs, libx264 -preset veryfast with
#     newsreel's live bitrate = maxrate, buffer of half a segment, 2 B-frames without pyramid,
#     rc-lookahead 10, GOP = segment = 2 s without scene cuts, AAC stereo 64 kb/s in every rung)
#     -f hls -hls_time 2 -hls_list_size 15 (a 30 s sliding window, as newsreel's)
#
# Measured per stream: CPU seconds (user + system, /usr/bin/time) per second of media published,
# and whether it kept up. A watcher (bench/lib/live_watch.mjs) polls every stream's top-rung
# playlist every 100 ms and notes when each segment is first listed; a segment's lateness is that
# moment minus (relay start + the segment's end in media time), so it includes the tool's start-up
# and encoding latency. A stream is held when its output speed (media seconds listed per wall
# second, from its second segment to its last full one) is at least SPEED_MIN and no segment was
# more than a segment duration (2 s) later than an earlier one had been (a player at the live
# edge would stall; a tool catching up after a slow start is not penalised). A count N is held
# when all N streams are. Each tool goes up from N = 1 until it fails once (or MAX_STREAMS); the
# two alternate at each N so that they meet the same machine.
# A trial still running 1.25 x its input + 10 s after it started is cut: its workers are stopped
# with SIGTERM (SIGKILL 10 s later), it is not held, and its CPU is counted against the media it
# listed.
#
# The machine's other load moves the "streams held" count, not the CPU seconds: the script prints,
# for every trial, the 1-minute load average at its start and the CPU that processes other than
# the trial's own used meanwhile (from /proc/stat), and the CPU-bound estimate (cores / CPU per
# stream) beside the count.
#
#   bench/live_capacity.sh
#   DURATION=20 MAX_STREAMS=3 BENCH_LADDERS="720,480,360" bench/live_capacity.sh
#
# Environment: NEWSREEL_BIN (default build/app/newsreel), DURATION (seconds of input per trial,
# 25; at least 12 to judge a stream by), MAX_STREAMS (4), BENCH_LADDERS ("720,480,360 480,360"),
# SPEED_MIN (0.97), BENCH_SOURCE (an existing 1080p30 H.264 + AAC MPEG-TS to relay instead of
# generating one; its first DURATION seconds are used), NEWSREEL_LIVE_ARGS (more `newsreel live`
# flags, e.g. "--low-latency": what `newsreel serve` runs by default), BENCH_KEEP=1 keeps the
# work folder.
# A full run with the defaults takes 5 to 10 minutes (generating the source about 40 s).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
NEWSREEL_BIN=${NEWSREEL_BIN:-$repo/build/app/newsreel}
DURATION=${DURATION:-25}
MAX_STREAMS=${MAX_STREAMS:-4}
BENCH_LADDERS=${BENCH_LADDERS:-720,480,360 480,360}
SPEED_MIN=${SPEED_MIN:-0.97}
read -r -a NEWSREEL_LIVE_ARGS <<<"${NEWSREEL_LIVE_ARGS:-}"
SEGMENT_SECONDS=2 # newsreel live's default; the ffmpeg peer is given the same
WINDOW_SEGMENTS=15 # newsreel live's default 30 s window
watch_tool=$repo/bench/lib/live_watch.mjs

for tool in ffmpeg ffprobe node /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install ffmpeg nodejs time)" >&2; exit 1; }
done
[[ -x $NEWSREEL_BIN ]] || { echo "bench: newsreel binary not found at $NEWSREEL_BIN (set NEWSREEL_BIN)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/newsreel-livebench-XXXXXX")
pids=() # the /usr/bin/time and watcher processes of the running trial
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true # the tool /usr/bin/time runs
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  [[ ${BENCH_KEEP:-0} == 1 ]] && echo "bench: kept $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cpu_jiffies: "busy steal" jiffies of the whole machine so far (busy = user + nice + system +
# irq + softirq; steal = time the hypervisor gave to other guests).
cpu_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat; }
jiffy_hz=$(getconf CLK_TCK)

# The source.
if [[ -n ${BENCH_SOURCE:-} ]]; then
  source_ts=$BENCH_SOURCE
else
  source_ts=$work/source_1080p30.ts
  echo "bench: generating ${DURATION} s of 1080p30 testsrc2 + grain (H.264 8 Mb/s, AAC) ..."
  ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$DURATION" \
    -c:v libx264 -preset veryfast -b:v 8M -maxrate 8M -bufsize 8M -g 60 -pix_fmt yuv420p \
    -c:a aac -b:a 128k -ac 2 -f mpegts "$source_ts"
fi
source_seconds=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$source_ts")
source_video=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height,r_frame_rate -of csv=p=0 "$source_ts" | awk "NR == 1")
input_seconds=$(awk -v s="$source_seconds" -v d="$DURATION" 'BEGIN { print (s < d ? s : d) }')

# live_bitrate WIDTH HEIGHT: newsreel's target video bitrate in bits/s for a 30 fps rung, as
# transcoder/ladder.cpp VideoBitrateFor computes it (4.5 Mb/s for 1080p30 scaled by pixel count to
# the power 0.8, rounded to 10 kb/s). PickLiveLadder sets max = target, buffer = half a segment.
live_bitrate() { awk -v w="$1" -v h="$2" 'BEGIN { k = 4500 * exp(0.8 * log(w * h / (1920 * 1080))); printf "%d\n", int(k / 10 + 0.5) * 10000 }'; }

# rungs_of MASTER: "name width height" per rung of a newsreel master playlist.
rungs_of() {
  awk -F'RESOLUTION=' '/^#EXT-X-STREAM-INF/ { split($2, r, /[x,]/); w = r[1]; h = r[2]; next }
    /^[^#]/ && w { sub(/\/index\.m3u8$/, ""); print $0, w, h; w = "" }' "$1"
}

# ffmpeg_peer_args MASTER OUTDIR: sets the array ffargs to the ffmpeg live ladder with the rungs of
# newsreel's MASTER playlist, reading stdin.
ffmpeg_peer_args() {
  local master=$1 outdir=$2
  local -a names=() widths=() heights=()
  local name w h
  while read -r name w h; do names+=("$name"); widths+=("$w"); heights+=("$h"); done < <(rungs_of "$master")
  local n=${#names[@]} i graph streams="" gop=$((SEGMENT_SECONDS * 30))
  graph="[0:v:0]split=$n"
  for ((i = 0; i < n; i++)); do graph+="[s$i]"; done
  for ((i = 0; i < n; i++)); do graph+=";[s$i]scale=${widths[i]}:${heights[i]},setsar=1[v$i]"; done
  ffargs=(-nostdin -v error -i pipe:0 -filter_complex "$graph")
  for ((i = 0; i < n; i++)); do
    ffargs+=(-map "[v$i]" -map 0:a:0)
    streams+="${streams:+ }v:$i,a:$i,name:${names[i]}"
  done
  ffargs+=(-c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -bf 2
    -x264-params "scenecut=0:open-gop=0:b-pyramid=none:rc-lookahead=10:sync-lookahead=0"
    -g "$gop" -keyint_min "$gop")
  for ((i = 0; i < n; i++)); do
    local rate
    rate=$(live_bitrate "${widths[i]}" "${heights[i]}")
    ffargs+=("-b:v:$i" "$rate" "-maxrate:v:$i" "$rate" "-bufsize:v:$i" "$((rate * SEGMENT_SECONDS / 2))")
  done
  ffargs+=(-c:a aac -b:a 64k -ac 2 -ar 48000
    -f hls -hls_time "$SEGMENT_SECONDS" -hls_list_size "$WINDOW_SEGMENTS"
    -hls_flags delete_segments+independent_segments+temp_file -master_pl_name master.m3u8
    -var_stream_map "$streams" -hls_segment_filename "$outdir/%v/seg_%05d.ts" "$outdir/%v/index.m3u8")
}

# run_trial TOOL LADDER N: N streams of TOOL at once, each fed by its own real-time relay. Prints
# one table row and sets trial_held (1 or 0) and trial_cpu (CPU s per input s per stream).
run_trial() {
  local tool=$1 ladder=$2 n=$3
  local dir=$work/$tool-${ladder//,/_}-$n
  mkdir -p "$dir"
  local top_rung=${ladder%%,*}p i # the source is 1080p: no rung is dropped
  local -a playlists=()
  for ((i = 1; i <= n; i++)); do
    mkdir -p "$dir/out$i"
    playlists+=("$dir/out$i/$top_rung/index.m3u8")
    mkfifo "$dir/in$i.ts"
  done
  local load1 jiffies_start steal_start t0
  load1=$(cut -d' ' -f1 /proc/loadavg)
  read -r jiffies_start steal_start < <(cpu_jiffies)
  t0=$(date +%s%3N)
  pids=()
  /usr/bin/time -f '%e %U %S' -o "$dir/watch.time" \
    node "$watch_tool" "$dir/watch.json" "$t0" "$((3 * ${input_seconds%.*} + 60))" "${playlists[@]}" &
  local watcher=$!
  pids+=("$watcher")
  local -a workers=()
  for ((i = 1; i <= n; i++)); do
    /usr/bin/time -f '%e %U %S' -o "$dir/relay$i.time" \
      ffmpeg -nostdin -v error -re -i "$source_ts" -t "$input_seconds" -c copy -f mpegts pipe:1 >"$dir/in$i.ts" 2>"$dir/relay$i.err" &
    pids+=($!)
    if [[ $tool == newsreel ]]; then
      /usr/bin/time -f '%e %U %S' -o "$dir/worker$i.time" \
        "$NEWSREEL_BIN" live "$dir/out$i" --ladder "$ladder" --encoder x264 --progress json "${NEWSREEL_LIVE_ARGS[@]}" \
        <"$dir/in$i.ts" >"$dir/worker$i.json" 2>"$dir/worker$i.err" &
    else
      ffmpeg_peer_args "$master" "$dir/out$i"
      /usr/bin/time -f '%e %U %S' -o "$dir/worker$i.time" ffmpeg "${ffargs[@]}" \
        <"$dir/in$i.ts" >/dev/null 2>"$dir/worker$i.err" &
    fi
    workers+=($!)
    pids+=($!)
  done
  # A trial far behind would run for minutes: at the deadline its workers are stopped (SIGTERM
  # ends both tools cleanly) and their CPU is counted against the media they listed. newsreel
  # first encodes what it has queued (up to 4 MB of input), which on an overloaded machine took
  # 30 s: after 10 s more they are killed.
  local deadline=$((SECONDS + ${input_seconds%.*} * 5 / 4 + 10)) cut=0 pid running
  while :; do
    running=0
    for pid in "${workers[@]}"; do kill -0 "$pid" 2>/dev/null && running=1; done
    ((running)) || break
    if ((SECONDS >= deadline + 10 && cut == 1)); then
      cut=2
      for pid in "${workers[@]}"; do pkill -KILL -P "$pid" 2>/dev/null || true; done
    elif ((SECONDS >= deadline && !cut)); then
      cut=1
      for pid in "${workers[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; done
    fi
    sleep 0.5
  done
  local failed=0
  for pid in "${workers[@]}"; do wait "$pid" || failed=$((failed + 1)); done
  wait "${pids[@]:1}" 2>/dev/null || true # the relays
  local wall jiffies_end steal_end
  wall=$(awk -v t0="$t0" -v t1="$(date +%s%3N)" 'BEGIN { print (t1 - t0) / 1000 }')
  read -r jiffies_end steal_end < <(cpu_jiffies)
  kill -TERM "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  pids=()

  # CPU: the workers, and everything the trial ran (workers, relays, watcher) to tell the
  # machine's other load apart.
  local worker_cpu own_cpu
  worker_cpu=$(cat "$dir"/worker*.time | awk '{ s += $2 + $3 } END { print s }')
  own_cpu=$(cat "$dir"/worker*.time "$dir"/relay*.time "$dir/watch.time" | awk '{ s += $2 + $3 } END { print s }')
  # Per stream, from the watcher's record: "speed late_median late_max rise segments
  # listed_seconds". Lateness is taken from the second segment (the first carries start-up) to
  # the last full one (the last is cut at the end of input); rise = the most a segment was later
  # than an earlier one (a player at the live edge waits that long; a tool catching up after a
  # slow start has none).
  node -e '
    for (const all of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))) {
      // ffmpeg ends with a segment of one frame: not a segment to judge either tool by.
      const segs = all.filter((s, i) => i < all.length - 1 || s.duration >= 0.5);
      let end = 0;
      const rows = segs.map((s) => { end += s.duration; return { end, seen: s.seen / 1000, late: s.seen / 1000 - end }; });
      const full = rows.slice(1, -1);
      if (full.length < 3) { console.log("0 - - -", segs.length, end.toFixed(2)); continue; }
      const a = full[0], b = full[full.length - 1];
      const speed = (b.end - a.end) / (b.seen - a.seen);
      const late = full.map((r) => r.late).sort((x, y) => x - y);
      const median = late[late.length >> 1], max = late[late.length - 1];
      let rise = 0, best = Infinity;
      for (const r of full) { rise = Math.max(rise, r.late - best); best = Math.min(best, r.late); }
      console.log(speed.toFixed(3), median.toFixed(2), max.toFixed(2), rise.toFixed(2), segs.length, end.toFixed(2));
    }' "$dir/watch.json" >"$dir/streams.txt"
  local summary
  summary=$(awk -v n="$n" -v failed="$failed" -v cut="$cut" -v smin="$SPEED_MIN" -v rise_max="$SEGMENT_SECONDS" \
    -v want="$(awk -v d="$input_seconds" -v s="$SEGMENT_SECONDS" 'BEGIN { print int(d / s) - 1 }')" '
    { speed[NR] = $1; med[NR] = $2; mx[NR] = $3; rise[NR] = $4; segs[NR] = $5; listed += $6 }
    END {
      held = (NR == n && failed == 0 && !cut)
      minspeed = 99; maxlate = -99; maxrise = -99; sumlate = 0
      for (i = 1; i <= NR; i++) {
        if (med[i] == "-") { held = 0; minspeed = 0; continue } # too few segments to judge
        if (speed[i] + 0 < smin || rise[i] + 0 > rise_max || segs[i] < want) held = 0
        if (speed[i] + 0 < minspeed) minspeed = speed[i]
        if (mx[i] + 0 > maxlate) maxlate = mx[i]
        if (rise[i] + 0 > maxrise) maxrise = rise[i]
        sumlate += med[i]; judged++
      }
      if (!judged) { printf "0 0 - - - %.2f\n", listed; exit }
      printf "%d %.3f %.2f %.2f %.2f %.2f\n", held, minspeed, sumlate / judged, maxlate, maxrise, listed
    }' "$dir/streams.txt")
  local held minspeed late_med late_max rise listed
  read -r held minspeed late_med late_max rise listed <<<"$summary"
  trial_held=$held
  # CPU per second of media published: the input's length for a trial that ran to its end.
  trial_cpu=$(awk -v c="$worker_cpu" -v l="$listed" 'BEGIN { if (l > 0) printf "%.3f", c / l; else print "nan" }')
  local others steal verdict=yes
  others=$(awk -v j="$((jiffies_end - jiffies_start))" -v hz="$jiffy_hz" -v own="$own_cpu" -v w="$wall" 'BEGIN { o = (j / hz - own) / w; printf "%.2f", (o < 0 ? 0 : o) }')
  steal=$(awk -v j="$((steal_end - steal_start))" -v hz="$jiffy_hz" -v w="$wall" 'BEGIN { printf "%.2f", j / hz / w }')
  ((held)) || verdict=no
  ((cut)) && verdict="no, cut"
  printf '%-11s | %-8s | %2d | %6s | %5.2f | %6.1f | %5.3f | %5s / %5s | %5s | %-7s | %5.2f / %4.2f | %5s\n' \
    "$ladder" "$tool" "$n" "$trial_cpu" "$(awk -v c="$worker_cpu" -v w="$wall" 'BEGIN { print c / w }')" "$wall" \
    "$minspeed" "$late_med" "$late_max" "$rise" "$verdict" "$others" "$steal" "$load1"
  if ((failed > 0 && !cut)); then
    echo "   $failed of $n $tool workers failed: $(cat "$dir"/worker*.err | grep -v '^\s*$' | tail -n 2 | tr '\n' ' ')"
  fi
  if [[ $tool == newsreel ]]; then
    # newsreel's own speed figure, for comparison with the one measured from the playlists.
    printf '   newsreel live --progress json: median speed %.2f (per-second figures after the first 3 s)\n' \
      "$(cat "$dir"/worker*.json | tail -n +4 | grep -o '"speed":[0-9.]*' | cut -d: -f2 | sort -g |
        awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "nan") }')"
  fi
}

echo "newsreel live vs ffmpeg: streams held in real time  ($(nproc) cores, $(ffmpeg -version | head -n 1 | cut -d' ' -f1-3), newsreel: $NEWSREEL_BIN)"
echo "source: $source_ts ($source_video, ${source_seconds} s), relayed at real-time pace, one relay per stream"
echo "held: every stream's output speed >= $SPEED_MIN and no segment > $SEGMENT_SECONDS s later than an earlier one; load at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-11s | %-8s | %2s | %6s | %5s | %6s | %5s | %-13s | %5s | %-7s | %-12s | %5s\n' \
  ladder tool N "CPU/s" cores "wall s" speed "late med/max" rise held "others/steal" load1
echo "(CPU/s: CPU s per second of media, per stream; cores: all workers' CPU / wall; speed: the slowest"
echo " stream's; late: s after real time, median of the streams' medians / the latest; rise: the most a"
echo " segment was later than an earlier one; others/steal: cores used meanwhile by other processes / taken by the hypervisor)"

declare -A cpu1 cpu_at held_max # cpu_at[tool,ladder,N]: CPU/s per stream of that trial
for ladder in $BENCH_LADDERS; do
  master=
  nr_on=1 ff_on=1
  held_max[newsreel,$ladder]=0 held_max[ffmpeg,$ladder]=0
  for ((n = 1; n <= MAX_STREAMS && (nr_on || ff_on); n++)); do
    if ((nr_on)); then
      run_trial newsreel "$ladder" "$n"
      [[ -z $master ]] && master=$work/newsreel-${ladder//,/_}-1/out1/master.m3u8
      ((n == 1)) && cpu1[newsreel,$ladder]=$trial_cpu
      cpu_at[newsreel,$ladder,$n]=$trial_cpu
      if ((trial_held)); then held_max[newsreel,$ladder]=$n; else nr_on=0; fi
    fi
    if ((ff_on)); then
      if [[ ! -f $master ]]; then echo "   (no newsreel master playlist for $ladder: the ffmpeg peer needs its rungs)"; ff_on=0; continue; fi
      run_trial ffmpeg "$ladder" "$n"
      ((n == 1)) && cpu1[ffmpeg,$ladder]=$trial_cpu
      cpu_at[ffmpeg,$ladder,$n]=$trial_cpu
      if ((trial_held)); then held_max[ffmpeg,$ladder]=$n; else ff_on=0; fi
    fi
  done
done

echo
echo "Summary (load at end $(cut -d' ' -f1-3 /proc/loadavg); the held count depends on the machine's other load, the CPU seconds much less)"
printf '%-11s | %-28s | %-24s | %-16s | %s\n' ladder "CPU/s per stream at N=1" "streams held" "cores / CPU/s" rungs
for ladder in $BENCH_LADDERS; do
  nc=${cpu1[newsreel,$ladder]:-nan} fc=${cpu1[ffmpeg,$ladder]:-nan}
  nh=${held_max[newsreel,$ladder]} fh=${held_max[ffmpeg,$ladder]}
  awk -v l="$ladder" -v nc="$nc" -v fc="$fc" -v nh="$nh" -v fh="$fh" -v cores="$(nproc)" \
    -v rungs="$(rungs_of "$work/newsreel-${ladder//,/_}-1/out1/master.m3u8" 2>/dev/null | awk '{ printf "%s%sx%s", (NR > 1 ? " " : ""), $2, $3 }')" 'BEGIN {
    printf "%-11s | nr %.3f ff %.3f ratio %.2f | nr %d ff %d %-11s | nr %.1f ff %.1f | %s\n", l, nc, fc, (fc > 0 ? nc / fc : 0),
      nh, fh, (fh > 0 ? sprintf("ratio %.2f", nh / fh) : "ratio -"), (nc > 0 ? cores / nc : 0), (fc > 0 ? cores / fc : 0), rungs
  }'
done
# The machine's speed drifts from minute to minute: the CPU ratio of each pair of trials that ran
# one after the other (same ladder, same N) says more than one pair alone.
for ladder in $BENCH_LADDERS; do
  pairs=""
  for ((n = 1; n <= MAX_STREAMS; n++)); do
    [[ -n ${cpu_at[newsreel,$ladder,$n]:-} && -n ${cpu_at[ffmpeg,$ladder,$n]:-} ]] &&
      pairs+=" $n ${cpu_at[newsreel,$ladder,$n]} ${cpu_at[ffmpeg,$ladder,$n]}"
  done
  [[ -n $pairs ]] && awk -v l="$ladder" -v p="$pairs" 'BEGIN {
    k = split(p, f, " "); line = ""; m = 0
    for (i = 1; i + 2 <= k; i += 3) if (f[i + 2] > 0) { r[++m] = f[i + 1] / f[i + 2]; line = line sprintf(" N=%d %.2f", f[i], r[m]) }
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
    if (m) printf "CPU newsreel/ffmpeg, %s, each N both ran:%s; median %.2f\n", l, line, (m % 2 ? r[(m + 1) / 2] : (r[m / 2] + r[m / 2 + 1]) / 2)
  }'
done
set -- $BENCH_LADDERS
if (($# >= 2)); then
  awk -v a="${cpu1[newsreel,$1]:-0}" -v b="${cpu1[newsreel,$2]:-0}" -v fa="${cpu1[ffmpeg,$1]:-0}" -v fb="${cpu1[ffmpeg,$2]:-0}" -v l1="$1" -v l2="$2" 'BEGIN {
    if (a > 0 && fa > 0) printf "CPU of %s relative to %s: newsreel %.2f, ffmpeg %.2f\n", l2, l1, b / a, fb / fa }'
fi
echo "(The ffmpeg peer encodes the AAC audio once per rung, newsreel once for all rungs; ffmpeg scales"
echo " with its default bicubic, newsreel with bilinear. Both use x264 veryfast with the same rate control.)"
