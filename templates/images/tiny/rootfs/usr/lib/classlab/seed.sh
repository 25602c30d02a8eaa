# classlab tiny guest: reading the cloud-init seed (sourced by rc.sysinit, and
# by tests/unit/test_provision_seed_guest.c on the host, with busybox sh).
#
# Two sources, tried in cloud-init's order (NoCloud before ConfigDrive):
#   nocloud      a filesystem labelled cidata: meta-data, user-data (YAML)
#   configdrive  an OpenStack config drive labelled config-2:
#                openstack/latest/meta_data.json and openstack/latest/user_data
# Both end in the same two flat files (see yaml-flat.awk), so everything after
# reading is one code path:
#   $MD  instance-id, local-hostname (config drive: from meta_data.json's uuid
#        and hostname)
#   $UD  the #cloud-config user-data (config drive: user_data), parsed alike
# Needs: SEED (a root-only directory), LIB (where yaml-flat.awk is) and log().

MD=$SEED/meta-data.flat
UD=$SEED/user-data.flat

# flatten FILE [AWK-ARGS] > FILE.flat (see yaml-flat.awk); parse problems are logged.
flatten() {
	_f=$1
	shift
	[ -f "$SEED/$_f" ] || { : >"$SEED/$_f.flat"; return 1; }
	awk "$@" -f "$LIB/yaml-flat.awk" "$SEED/$_f" >"$SEED/$_f.flat" 2>"$SEED/$_f.warnings"
	while IFS= read -r w; do log "$_f: $w"; done <"$SEED/$_f.warnings"
	return 0
}
# yget FLAT PATH: print the encoded value of PATH (decode with printf %b);
# fails when PATH is absent.
yget() { awk -F '\t' -v k="$2" '$1 == k { print substr($0, length($1 $2) + 3); f = 1; exit } END { exit !f }' "$1"; }
# yitems FLAT PREFIX: "TYPE<TAB>VALUE" for each scalar PREFIX.N, in order.
yitems() { awk -F '\t' -v p="$2." 'index($1, p) == 1 && substr($1, length(p) + 1) ~ /^[0-9]+$/ { print $2 "\t" substr($0, length($1 $2) + 3) }' "$1"; }
dec() { printf '%b' "$1"; }

valid_hostname() {
	case $1 in
	'' | -* | *-. | .* | *..* | *[!A-Za-z0-9.-]*) return 1 ;;
	esac
	_s=${1%%.*}
	[ ${#1} -le 253 ] && [ ${#_s} -le 63 ]
}

# seed_read SOURCE DIR: copy the seed's files from DIR (the mounted
# filesystem) into $SEED and write $MD and $UD. SOURCE: nocloud|configdrive.
seed_read() {
	: >"$MD"
	: >"$UD"
	case $1 in
	nocloud)
		for _f in meta-data user-data network-config vendor-data; do
			[ -f "$2/$_f" ] && cp "$2/$_f" "$SEED/$_f"
		done
		flatten meta-data || log "WARNING: seed has no meta-data"
		;;
	configdrive)
		_d=$2/openstack/latest
		[ -d "$_d" ] || log "WARNING: the config drive has no openstack/latest"
		[ -f "$_d/meta_data.json" ] && cp "$_d/meta_data.json" "$SEED/meta_data.json"
		[ -f "$_d/user_data" ] && cp "$_d/user_data" "$SEED/user-data"
		[ -f "$_d/network_data.json" ] && cp "$_d/network_data.json" "$SEED/network-config"
		if flatten meta_data.json -v json=1; then
			# The two fields read here become NoCloud's names; nothing else is used.
			awk -F '\t' -v OFS='\t' '$1 == "uuid" { $1 = "instance-id"; print }
				$1 == "hostname" { $1 = "local-hostname"; print }' "$SEED/meta_data.json.flat" >"$MD"
			yget "$MD" instance-id >/dev/null || log "WARNING: meta_data.json has no uuid"
			# cloud-init gives meta_data's public_keys to the image's default user
			# only; this image has none (users come from user-data), so they are
			# not applied: classlab puts its keys in user_data.
			_n=$(awk -F '\t' '$1 ~ /^public_keys\./ { n++ } END { print n + 0 }' "$SEED/meta_data.json.flat")
			[ "$_n" = 0 ] || log "meta_data.json: $_n public_keys not applied (no default user on this image; keys come from user_data)"
		else
			log "WARNING: the config drive has no meta_data.json"
		fi
		;;
	*)
		log "WARNING: unknown seed source '$1'"
		return 1 ;;
	esac
	if [ ! -f "$SEED/user-data" ]; then
		log "seed has no user-data"
	elif head -n 1 "$SEED/user-data" | grep -q '^#cloud-config[[:space:]]*$'; then
		flatten user-data
	else
		log "WARNING: user-data is not #cloud-config ($(head -c 40 "$SEED/user-data" | head -n 1)); ignored"
	fi
	return 0
}

# seed_names: sets IID (the instance id, or empty), HOST (the short host name)
# and FQDN from $MD and $UD. As cloud-init: user-data's hostname wins over
# the metadata's local-hostname; DEFAULT_HOST when neither is valid.
# shellcheck disable=SC2034 # IID, HOST and FQDN are for the caller
seed_names() {
	IID=$(dec "$(yget "$MD" instance-id 2>/dev/null)")
	HOST=
	for _c in "$(dec "$(yget "$UD" hostname 2>/dev/null)")" "$(dec "$(yget "$MD" local-hostname 2>/dev/null)")"; do
		[ -n "$_c" ] || continue
		if valid_hostname "$_c"; then
			HOST=$_c
			break
		fi
		log "WARNING: invalid hostname '$_c' ignored"
	done
	valid_hostname "$HOST" || HOST=${DEFAULT_HOST:-classlab-tiny}
	# Like cloud-init: the system hostname is the short name; an FQDN (from
	# the chosen name or user-data fqdn) goes to /etc/hosts beside it.
	FQDN=$(dec "$(yget "$UD" fqdn 2>/dev/null)")
	valid_hostname "$FQDN" || FQDN=
	[ -n "$FQDN" ] || FQDN=$HOST
	HOST=${HOST%%.*}
}
