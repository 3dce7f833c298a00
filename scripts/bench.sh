#!/usr/bin/env bash
# The short benchmark suite behind `task bench`: Go benchmarks of the hot
# paths, a standalone load run, a cluster load run (when RabbitMQ and
# PostgreSQL answer on loopback) and the idle-socket memory run, then
# docs/benchmarks.md from what was measured. Two to five minutes on two cores.
#
#   scripts/bench.sh            run everything and write docs/benchmarks.md
#
# Environment:
#   BENCH_OUT=path          report to write (default docs/benchmarks.md)
#   BENCH_NOTES=path        hand-written prose sections (default docs/benchmarks-notes.md)
#   BENCH_DURATION=15s      send window of the chat runs, in seconds (default 15s)
#   BENCH_IDLE_CONNS=19000  sockets of the idle run (default 19000)
#   BENCH_KEEP=1            keep the temporary directory (logs, raw JSON)
#   MQ_URL=amqp://...       RabbitMQ (default amqp://guest:guest@127.0.0.1:5672/)
#   PGHOST/PGUSER/PGDB      PostgreSQL admin connection (default 127.0.0.1, postgres, test)
#
# Everything runs on loopback and is bounded in time; the trap stops every
# process the suite started, drops its database and deletes its RabbitMQ
# objects, even when interrupted.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

OUT=${BENCH_OUT:-docs/benchmarks.md}
NOTES=${BENCH_NOTES:-docs/benchmarks-notes.md}
DURATION=${BENCH_DURATION:-15s}
IDLE_CONNS=${BENCH_IDLE_CONNS:-19000}
MQ_URL=${MQ_URL:-amqp://guest:guest@127.0.0.1:5672/}
PG_HOST=${PGHOST:-127.0.0.1}
PG_USER=${PGUSER:-postgres}
PG_ADMIN_DB=${PGDB:-test}
DURATION_S=${DURATION%s}

BENCH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/chatnode-bench.XXXXXX") || exit 1
BIN=$BENCH_DIR/bin
mkdir -p "$BIN" "$BENCH_DIR/gobench" "$BENCH_DIR/runs"

PIDS=()         # processes to stop on exit
DBS=()          # PostgreSQL databases to drop on exit
MQ_CLUSTERS=()  # "prefix cluster nodes" to delete from RabbitMQ on exit

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# forget ARRAY VALUE: remove VALUE from the named array.
forget() {
	local -n arr=$1
	local keep=() v
	for v in "${arr[@]}"; do [[ $v == "$2" ]] || keep+=("$v"); done
	arr=("${keep[@]}")
}

# stop_pid PID: SIGTERM, up to 15 s to exit, then SIGKILL. Only pids of
# this script's own children are ever passed here, and each is forgotten
# once reaped so that a reused pid is never signalled.
stop_pid() {
	local pid=$1 i state
	forget PIDS "$pid"
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		# A zombie child still answers kill -0: reap it.
		if [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]]; then break; fi
		sleep 0.1
	done
	# No state: the process is gone (the shell may reap a child between
	# the loop's check and this one).
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
	if [[ -n $state && $state != Z ]]; then
		log "process $pid did not stop on SIGTERM; killing it"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	return 0
}

drop_db() {
	PGCONNECT_TIMEOUT=5 timeout 30 psql -h "$PG_HOST" -U "$PG_USER" -d "$PG_ADMIN_DB" -qAtc \
		"drop database if exists \"$1\" with (force)" >/dev/null
}

cleanup() {
	local status=$? pid db c
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
	for db in "${DBS[@]}"; do
		drop_db "$db" && log "dropped database $db" || log "could not drop database $db: drop it by hand"
	done
	for c in "${MQ_CLUSTERS[@]}"; do
		# shellcheck disable=SC2086
		set -- $c
		timeout 30 "$BIN/benchreport" mq-clean --url "$MQ_URL" --prefix "$1" --cluster "$2" --nodes "$3" >/dev/null ||
			log "could not delete the RabbitMQ objects named $1.$2.*: delete them by hand"
	done
	if [[ ${BENCH_KEEP:-} == 1 ]]; then
		log "results kept in $BENCH_DIR"
	else
		rm -rf "$BENCH_DIR"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# meta FILE KEY VALUE...: append key=value lines (one per value).
meta() {
	local file=$1 key=$2 v
	shift 2
	for v in "$@"; do printf '%s=%s\n' "$key" "$v" >>"$file"; done
}

# cmdline ARGS...: the command as a shell line, with the node's pid shown as $NODE_PID.
cmdline() {
	local out="" a prev=""
	for a in "$@"; do
		if [[ $prev == --pid ]]; then out+=' $NODE_PID'; else out+=" $(printf '%q' "$a")"; fi
		prev=$a
	done
	printf '%s' "${out# }"
}

# wait_health URL SECONDS [PATTERN]: until /health answers 200 (and
# contains PATTERN).
wait_health() {
	local url=$1 secs=$2 pattern=${3:-} i body
	for ((i = 0; i < secs * 5; i++)); do
		if body=$(curl -sf --max-time 2 "$url/health" 2>/dev/null) && [[ -z $pattern || $body == *"$pattern"* ]]; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# sample_proc PID FILE: "epoch utime stime rss-kB" twice a second while PID lives.
sample_proc() {
	local pid=$1 file=$2 stat rss
	while [[ -r /proc/$pid/stat ]]; do
		read -r -a stat <"/proc/$pid/stat" 2>/dev/null || break
		[[ ${stat[2]} == Z ]] && break
		rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null)
		printf '%s %s %s %s\n' "$EPOCHREALTIME" "${stat[13]}" "${stat[14]}" "${rss:-0}" >>"$file"
		sleep 0.5
	done
}

# sample_system FILE: "epoch busy-ticks all-ticks" of the whole machine twice
# a second until stopped.
sample_system() {
	local file=$1 cpu user nice system idle iowait irq softirq steal rest
	while read -r cpu user nice system idle iowait irq softirq steal rest </proc/stat; do
		printf '%s %s %s\n' "$EPOCHREALTIME" "$((user + nice + system + irq + softirq + steal))" \
			"$((user + nice + system + idle + iowait + irq + softirq + steal))" >>"$file"
		sleep 0.5
	done
}

# start_samplers RUNDIR NAME=PID...: sample the machine and each node; sets SAMPLERS.
start_samplers() {
	local dir=$1 kv
	shift
	SAMPLERS=()
	sample_system "$dir/samples-system.txt" &
	SAMPLERS+=("$!")
	for kv in "$@"; do
		sample_proc "${kv#*=}" "$dir/samples-${kv%%=*}.txt" &
		SAMPLERS+=("$!")
	done
	PIDS+=("${SAMPLERS[@]}")
}

stop_samplers() {
	local pid
	for pid in "${SAMPLERS[@]}"; do stop_pid "$pid"; done
	SAMPLERS=()
}
SAMPLERS=()

# start_node RUNDIR NAME ARGS...: start chatnode in the background; sets NODE_PID.
start_node() {
	local dir=$1 name=$2
	shift 2
	"$BIN/chatnode" "$@" >"$dir/node-$name.log" 2>&1 &
	NODE_PID=$!
	PIDS+=("$NODE_PID")
	meta "$dir/meta" node_cmd "$(cmdline chatnode "$@")"
}

# run_load RUNDIR ARGS...: run chatload (bounded), output in out.json.
run_load() {
	local dir=$1 rc
	shift
	meta "$dir/meta" load_cmd "$(cmdline chatload "$@")"
	timeout -k 10 300 "$BIN/chatload" "$@" >"$dir/out.json" 2>"$dir/err.txt"
	rc=$?
	meta "$dir/meta" load_rc "$rc"
	if ((rc != 0)); then
		log "chatload exited with $rc"
		tail -n 5 "$dir/err.txt" | while IFS= read -r line; do meta "$dir/meta" stderr_tail "$line"; done
	fi
	[[ -s $dir/out.json ]] || meta "$dir/meta" reason "chatload printed no report (exit status $rc)"
	return 0
}

# write_ini FILE PORT DATADIR [EXTRA LINES...]
write_ini() {
	local file=$1 port=$2 data=$3
	shift 3
	{
		echo "; written by scripts/bench.sh"
		echo "listen = 127.0.0.1:$port"
		echo "data_dir = $data"
		echo "accounts_file = $BENCH_DIR/accounts.json"
		echo "auth_secret = bench-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
		echo "; every client comes from 127.0.0.1: lift the per-address and per-token limits"
		echo "rate_limit = 100000"
		echo "rate_burst = 100000"
		echo "log_level = warn"
		local l
		for l in "$@"; do echo "$l"; done
	} >"$file"
}

rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# ---------------------------------------------------------------- machine
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc=$(nproc)"
	echo "cpu=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)"
	echo "mem_kb=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)"
	echo "go=$(go version | sed 's/^go version //')"
	echo "kernel=$(uname -sr)"
	echo "nofile=$(ulimit -n)"
	echo "clk_tck=$(getconf CLK_TCK)"
	echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	if [[ -n $(git status --porcelain 2>/dev/null) ]]; then echo "dirty=1"; else echo "dirty=0"; fi
} >"$BENCH_DIR/machine.env"

# ---------------------------------------------------------------- build
log "building chatnode, chatload and benchreport into $BIN"
go build -o "$BIN/benchreport" ./cmd/benchreport || { log "cmd/benchreport does not build"; exit 1; }
BUILD_OK=1
go build -o "$BIN/chatnode" ./cmd/chatnode 2>"$BENCH_DIR/build.err" || BUILD_OK=0
go build -o "$BIN/chatload" ./cmd/chatload 2>>"$BENCH_DIR/build.err" || BUILD_OK=0
BUILD_WHY="chatnode or chatload did not build: $(head -n 3 "$BENCH_DIR/build.err" | tr '\n' ' ')"

# How dear the kernel is right now: the load runs' figures follow it.
calibrate() { timeout 60 "$BIN/benchreport" calibrate --prefix "calib_$1_" >>"$BENCH_DIR/machine.env" || log "calibration failed"; }
calibrate start

MQ_UP=0
timeout 10 "$BIN/benchreport" mq-ping --url "$MQ_URL" 2>/dev/null && MQ_UP=1
PG_UP=0
PGCONNECT_TIMEOUT=3 timeout 10 psql -h "$PG_HOST" -U "$PG_USER" -d "$PG_ADMIN_DB" -qAtc 'select 1' >/dev/null 2>&1 && PG_UP=1
log "RabbitMQ reachable: $MQ_UP, PostgreSQL reachable: $PG_UP"

# ---------------------------------------------------------------- Go benchmarks
# go_bench N PKG PATTERN BENCHTIME [SKIP-REASON]
go_bench() {
	local n=$1 pkg=$2 pat=$3 bt=$4 skip=${5:-} base rc start
	base=$BENCH_DIR/gobench/$n-${pkg##*/}
	local cmd=(go test -run '^$' -bench "$pat" -benchmem -benchtime "$bt" -timeout 5m "./$pkg/")
	meta "$base.meta" pkg "github.com/chatnode/chatnode/$pkg"
	meta "$base.meta" cmd "go test -run '^\$' -bench '$pat' -benchmem -benchtime $bt -timeout 5m ./$pkg/"
	if [[ -n $skip ]]; then
		meta "$base.meta" status skipped
		meta "$base.meta" reason "$skip"
		log "go benchmarks ./$pkg: skipped ($skip)"
		return
	fi
	log "go benchmarks ./$pkg (-benchtime $bt)"
	start=$SECONDS
	timeout -k 10 400 "${cmd[@]}" >"$base.out" 2>&1
	rc=$?
	meta "$base.meta" status ran
	meta "$base.meta" rc "$rc"
	meta "$base.meta" secs "$((SECONDS - start))"
	((rc == 0)) || log "go test ./$pkg exited with $rc"
}

# Fixed iteration counts where one iteration is heavy (the assignment
# benchmarks build 10,000 chats; the idle-socket benchmark holds one socket
# an iteration, two descriptors each in one process), enough iterations for
# a steady figure where one is light, short times elsewhere.
go_bench 1 actors Assign 3x
go_bench 2 actors 'DeltaMessage|VisitorMessage' 100000x
go_bench 3 store 'ApplyEach|Writer' 2000x
go_bench 3b store ApplyBatch 100000x
if ((MQ_UP)); then go_bench 4 mq . 300ms; else go_bench 4 mq . 300ms "RabbitMQ is not reachable at $MQ_URL"; fi
go_bench 5 server . 2000x
go_bench 6 telemetry . 300ms

# ---------------------------------------------------------------- accounts
if ((BUILD_OK)); then
	if ! "$BIN/chatload" accounts --operators 50 --max-chats 20 >"$BENCH_DIR/accounts.json"; then
		BUILD_OK=0
		BUILD_WHY="chatload accounts failed"
	fi
fi

SYNC=$(sed -n 's/^const sqliteSynchronous = "\(.*\)"/\1/p' store/sqlite.go)
SYNC=${SYNC:-"(see store/sqlite.go)"}

# ---------------------------------------------------------------- standalone
# standalone_run NAME INFLIGHT ABOUT...
standalone_run() {
	local name=$1 inflight=$2 dir port
	shift 2
	dir=$BENCH_DIR/runs/$name
	mkdir -p "$dir"
	meta "$dir/meta" duration_s "$DURATION_S"
	meta "$dir/meta" about "$@"
	if ((!BUILD_OK)); then
		meta "$dir/meta" status skipped
		meta "$dir/meta" reason "$BUILD_WHY"
		return
	fi
	port=$("$BIN/benchreport" freeport)
	write_ini "$dir/main.ini" "$port" "$dir/data"
	meta "$dir/meta" show_file main.ini
	log "$name: standalone node on 127.0.0.1:$port, $DURATION at --inflight $inflight"
	start_node "$dir" node --config "$dir/main.ini"
	local pid=$NODE_PID
	if ! wait_health "http://127.0.0.1:$port" 30; then
		meta "$dir/meta" status failed
		meta "$dir/meta" reason "the node did not become healthy within 30 s: $(tail -n 2 "$dir/node-node.log" | tr '\n' ' ')"
		stop_pid "$pid"
		return
	fi
	meta "$dir/meta" status ran
	start_samplers "$dir" node="$pid"
	# chatload on one processor: with two, its idle scheduler threads spin
	# on the processor the node needs (about 10% more of chatload's time a
	# message, five interleaved runs each). The cluster run keeps both: there
	# one processor did no better (five interleaved runs each).
	# Both load runs ask for more than their target rate: a run that asks
	# for exactly the target measures at most what it asked for.
	run_load "$dir" --url "http://127.0.0.1:$port" --visitors 500 --operators 50 \
		--rate 30000 --inflight "$inflight" --duration "$DURATION" --visitor-transport ws --pid "$pid" --procs 1 --json
	stop_samplers
	stop_pid "$pid"
}

standalone_run standalone 256 \
	"One node with its embedded store: every message is appended to the store's journal and fdatasynced" \
	"(group commit) before it is answered and delivered; the journal's applier copies it into SQLite" \
	"(WAL, synchronous=$SYNC) in large transactions. 500 visitors on WebSockets, 50 operators" \
	"(max_chats 20, accounts from \`chatload accounts --operators 50 --max-chats 20\`), --rate 30000 asked with" \
	"at most 256 sends waiting for their answer; chatload on one processor (--procs 1)." \
	"Tracing off (no otlp_endpoint), metrics on."

standalone_run standalone-1024 1024 \
	"The same run with 1,024 sends in flight instead of 256, on a fresh node: how far more concurrency" \
	"moves throughput, and what it costs in latency. Not a target figure."

# ---------------------------------------------------------------- cluster
cluster_run() {
	local dir=$BENCH_DIR/runs/cluster db prefix cname pm ps master slave
	mkdir -p "$dir"
	meta "$dir/meta" duration_s "$DURATION_S"
	meta "$dir/meta" about \
		"Two nodes on this machine, master and slave, sharing one PostgreSQL database and linked through RabbitMQ." \
		"Visitors use the master, which owns their chats (durable in PostgreSQL); operators' sockets are on the slave," \
		"as the seed's nginx routes them, so every message crosses RabbitMQ to reach its operator." \
		"500 visitors on WebSockets, 50 operators, --rate 20000 asked with at most 256 sends in flight."
	local why=""
	((BUILD_OK)) || why=$BUILD_WHY
	((PG_UP)) || why="PostgreSQL is not reachable at $PG_HOST"
	((MQ_UP)) || why="RabbitMQ is not reachable at $MQ_URL"
	if [[ -n $why ]]; then
		meta "$dir/meta" status skipped
		meta "$dir/meta" reason "$why"
		log "cluster: skipped ($why)"
		return
	fi
	db=chatnode_bench_$(rand_hex 4)
	prefix=bench$(rand_hex 4)
	cname=c$(rand_hex 3)
	if ! PGCONNECT_TIMEOUT=5 timeout 30 psql -h "$PG_HOST" -U "$PG_USER" -d "$PG_ADMIN_DB" -qAtc "create database \"$db\"" >/dev/null 2>"$dir/psql.err"; then
		meta "$dir/meta" status failed
		meta "$dir/meta" reason "could not create the database: $(head -n 1 "$dir/psql.err")"
		return
	fi
	DBS+=("$db")
	MQ_CLUSTERS+=("$prefix $cname master,slave")
	# amqp://user:pass@host:port/vhost → the node's mq_* keys.
	local mqrest=${MQ_URL#*://} mqcred="guest:guest" mqhost mqvhost
	if [[ $mqrest == *@* ]]; then mqcred=${mqrest%%@*}; mqrest=${mqrest#*@}; fi
	mqhost=${mqrest%%/*}
	[[ $mqhost == *:* ]] || mqhost+=":5672"
	mqvhost=${mqrest#"$mqhost"}
	mqvhost=${mqvhost#/}
	mqvhost=${mqvhost:-/}
	write_ini "$dir/main.ini" 0 "$dir/data" \
		"; the nodes share one PostgreSQL database, created for this run and dropped after it" \
		"db_dsn = postgres://$PG_USER@$PG_HOST:5432/$db?sslmode=disable" \
		"mq_host = ${mqhost%:*}" \
		"mq_port = ${mqhost##*:}" \
		"mq_username = ${mqcred%%:*}" \
		"mq_password = ${mqcred#*:}" \
		"mq_virtual_host = $mqvhost" \
		"; RabbitMQ objects of this run are named $prefix.$cname.*, deleted after it" \
		"mq_node_id_prefix = $prefix"
	printf '{"cluster_name": "%s", "chat_server_node_names": ["master", "slave"], "chat_server_master_node_name": "master"}\n' \
		"$cname" >"$dir/cluster.json"
	meta "$dir/meta" show_file main.ini cluster.json
	pm=$("$BIN/benchreport" freeport)
	ps=$("$BIN/benchreport" freeport)
	log "cluster: master on 127.0.0.1:$pm, slave on 127.0.0.1:$ps, database $db, RabbitMQ $prefix.$cname.*"
	start_node "$dir" master --config "$dir/main.ini" --cluster_config "$dir/cluster.json" --node_name master --multinode_mode master --port "$pm"
	master=$NODE_PID
	if ! wait_health "http://127.0.0.1:$pm" 60; then
		meta "$dir/meta" status failed
		meta "$dir/meta" reason "the master did not become healthy within 60 s: $(tail -n 2 "$dir/node-master.log" | tr '\n' ' ')"
		stop_pid "$master"
		return
	fi
	start_node "$dir" slave --config "$dir/main.ini" --cluster_config "$dir/cluster.json" --node_name slave --multinode_mode slave --port "$ps"
	slave=$NODE_PID
	if ! wait_health "http://127.0.0.1:$ps" 60 '"master":true' || ! wait_health "http://127.0.0.1:$pm" 30 '"slave":true'; then
		meta "$dir/meta" status failed
		meta "$dir/meta" reason "the nodes did not see each other within 90 s: $(tail -n 2 "$dir/node-slave.log" | tr '\n' ' ')"
		stop_pid "$slave"
		stop_pid "$master"
		return
	fi
	meta "$dir/meta" status ran
	start_samplers "$dir" master="$master" slave="$slave"
	run_load "$dir" --visitor-url "http://127.0.0.1:$pm" --operator-url "http://127.0.0.1:$ps" \
		--visitors 500 --operators 50 --rate 20000 --inflight 256 --duration "$DURATION" \
		--visitor-transport ws --pid "$master" --json
	stop_samplers
	stop_pid "$slave"
	stop_pid "$master"
	if drop_db "$db"; then
		forget DBS "$db"
		meta "$dir/meta" after "Database \`$db\` dropped after the run."
	fi
	local out
	if out=$(timeout 30 "$BIN/benchreport" mq-clean --url "$MQ_URL" --prefix "$prefix" --cluster "$cname" --nodes master,slave 2>&1); then
		forget MQ_CLUSTERS "$prefix $cname master,slave"
		meta "$dir/meta" after "RabbitMQ objects of the run deleted: $(echo "$out" | sed 's/^deleted //' | paste -sd ';' | sed 's/;/; /g')."
	else
		meta "$dir/meta" after "Deleting the RabbitMQ objects failed: $out"
	fi
	# What is left, as the broker lists it (rabbitmqctl may need privileges).
	local left
	if command -v rabbitmqctl >/dev/null && left=$( { timeout 20 rabbitmqctl -q list_queues name; timeout 20 rabbitmqctl -q list_exchanges name; } 2>/dev/null); then
		left=$(grep -F "$prefix.$cname." <<<"$left" | paste -sd ' ')
		if [[ -n $left ]]; then
			meta "$dir/meta" after "RabbitMQ objects still present after the run: $left"
		else
			meta "$dir/meta" after "\`rabbitmqctl list_queues\` / \`list_exchanges\` show nothing named $prefix.$cname.* afterwards."
		fi
	fi
}
cluster_run

# ---------------------------------------------------------------- idle memory
idle_run() {
	local dir=$BENCH_DIR/runs/idle port pid
	mkdir -p "$dir"
	meta "$dir/meta" duration_s 20
	meta "$dir/meta" about \
		"A fresh standalone node; 50 operators log in, then $IDLE_CONNS operator WebSockets (/ws/o/delta) open and stay idle" \
		"for 20 s. The node's resident memory (VmRSS) is read before the sockets open and at the end of the hold," \
		"and the difference is divided by the sockets."
	if ((!BUILD_OK)); then
		meta "$dir/meta" status skipped
		meta "$dir/meta" reason "$BUILD_WHY"
		return
	fi
	port=$("$BIN/benchreport" freeport)
	write_ini "$dir/main.ini" "$port" "$dir/data"
	meta "$dir/meta" show_file main.ini
	log "idle: $IDLE_CONNS sockets on a fresh node on 127.0.0.1:$port"
	start_node "$dir" node --config "$dir/main.ini"
	pid=$NODE_PID
	if ! wait_health "http://127.0.0.1:$port" 30; then
		meta "$dir/meta" status failed
		meta "$dir/meta" reason "the node did not become healthy within 30 s"
		stop_pid "$pid"
		return
	fi
	meta "$dir/meta" status ran
	run_load "$dir" --url "http://127.0.0.1:$port" --mode idle --conns "$IDLE_CONNS" --operators 50 \
		--duration 20s --pid "$pid" --json
	stop_pid "$pid"
}
idle_run

# ---------------------------------------------------------------- report
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$BENCH_DIR/machine.env"
calibrate end
"$BIN/benchreport" report --dir "$BENCH_DIR" --out "$OUT" --notes "$NOTES" || exit 1
log "wrote $OUT"
