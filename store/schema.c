/* The schema, one script per version; cl_store_open applies the missing ones in order. */
#include "store_impl.h"
#include "classlab/banned.h"

/* Version 1: the foundation (sizes, labs, students, schedules). Never edit: add a version. */
static const char schema_v1[] =
	"CREATE TABLE sizes ("
	"  name TEXT PRIMARY KEY,"
	"  lab_units INTEGER NOT NULL CHECK (lab_units >= 0),"
	"  vcpus INTEGER NOT NULL CHECK (vcpus >= 0),"
	"  memory_mib INTEGER NOT NULL CHECK (memory_mib >= 0),"
	"  gpus INTEGER NOT NULL DEFAULT 0 CHECK (gpus >= 0),"
	"  builtin INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE labs ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  size TEXT NOT NULL REFERENCES sizes(name) ON UPDATE CASCADE,"
	"  image TEXT NOT NULL DEFAULT 'tiny',"
	"  username TEXT NOT NULL DEFAULT 'student',"
	"  scheduled_seconds INTEGER NOT NULL DEFAULT 0,"
	"  quota_seconds INTEGER NOT NULL DEFAULT 0,"
	"  price_micro INTEGER NOT NULL DEFAULT 10000,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE students ("
	"  id INTEGER PRIMARY KEY,"
	"  lab_id INTEGER NOT NULL REFERENCES labs(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  email TEXT,"
	"  quota_seconds INTEGER,"
	"  ssh_public_key TEXT,"
	"  UNIQUE (lab_id, name));"
	"CREATE TABLE schedules ("
	"  id INTEGER PRIMARY KEY,"
	"  lab_id INTEGER NOT NULL REFERENCES labs(id) ON DELETE CASCADE,"
	"  start_ts INTEGER NOT NULL,"
	"  end_ts INTEGER NOT NULL CHECK (end_ts > start_ts),"
	"  weekly_until INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX schedules_lab ON schedules(lab_id);";

#define SQL_INT_(n) #n
#define SQL_INT(n) SQL_INT_(n)

/* Version 2: hypervisor placement, VMs, GPU assignment, usage, locks and events. */
static const char schema_v2[] =
	"ALTER TABLE labs ADD COLUMN listen TEXT NOT NULL DEFAULT '127.0.0.1';"
	"ALTER TABLE labs ADD COLUMN public_host TEXT NOT NULL DEFAULT '127.0.0.1';"
	"ALTER TABLE labs ADD COLUMN port_min INTEGER NOT NULL DEFAULT "
	SQL_INT(CL_PORT_MIN_DEFAULT) ";"
	"ALTER TABLE labs ADD COLUMN port_max INTEGER NOT NULL DEFAULT "
	SQL_INT(CL_PORT_MAX_DEFAULT) ";"
	"ALTER TABLE labs ADD COLUMN memory_mib INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE labs ADD COLUMN vcpus INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE labs ADD COLUMN spec_json TEXT;"
	"ALTER TABLE labs ADD COLUMN template_version INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE labs ADD COLUMN template_state TEXT NOT NULL DEFAULT 'none';"
	"ALTER TABLE labs ADD COLUMN verified_version INTEGER NOT NULL DEFAULT 0;"
	/* How the template version's disk boots (direct kernel boot for tiny), for its clones. */
	"ALTER TABLE labs ADD COLUMN boot_kernel TEXT;"
	"ALTER TABLE labs ADD COLUMN boot_initrd TEXT;"
	"ALTER TABLE labs ADD COLUMN boot_cmdline TEXT;"
	"CREATE TABLE vms ("
	"  id INTEGER PRIMARY KEY,"
	"  lab_id INTEGER NOT NULL REFERENCES labs(id) ON DELETE CASCADE,"
	"  student_id INTEGER REFERENCES students(id) ON DELETE SET NULL,"
	"  name TEXT NOT NULL UNIQUE,"
	"  kind TEXT NOT NULL CHECK (kind IN ('template', 'student', 'attached')),"
	"  uuid TEXT UNIQUE,"
	"  mac TEXT UNIQUE,"
	"  ssh_port INTEGER,"
	"  instance_id TEXT UNIQUE,"
	"  host_key_pub TEXT,"
	"  address TEXT,"
	"  username TEXT,"
	"  auth_secret TEXT,"
	"  template_version INTEGER NOT NULL DEFAULT 0,"
	"  state TEXT NOT NULL DEFAULT 'planned',"
	"  created_at INTEGER NOT NULL);"
	/* Ports are unique per host for VMs classlab forwards; attached machines keep theirs. */
	"CREATE UNIQUE INDEX vms_port ON vms(ssh_port) WHERE kind != 'attached';"
	"CREATE INDEX vms_lab ON vms(lab_id);"
	/* Host GPUs given to VMs by PCI passthrough: one VM per GPU, host-wide. */
	"CREATE TABLE gpus ("
	"  address TEXT PRIMARY KEY,"
	"  vm_id INTEGER NOT NULL REFERENCES vms(id) ON DELETE CASCADE);"
	"CREATE INDEX gpus_vm ON gpus(vm_id);"
	"CREATE TABLE usage ("
	"  id INTEGER PRIMARY KEY,"
	"  vm_id INTEGER NOT NULL REFERENCES vms(id) ON DELETE CASCADE,"
	"  start_ts INTEGER NOT NULL,"
	"  end_ts INTEGER NOT NULL CHECK (end_ts >= start_ts));"
	"CREATE TABLE locks ("
	"  lab TEXT PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  pid INTEGER NOT NULL,"
	"  since INTEGER NOT NULL);"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  lab TEXT,"
	"  kind TEXT NOT NULL,"
	"  detail TEXT);";

/*
 * Version 3: per-lab student totals kept by triggers, so the cost report reads one
 * row per lab instead of aggregating every student. Overrides are counted apart
 * from the lab's quota, which may change without touching any student row.
 * Integer overflow in a trigger's sum turns the value REAL, which readers refuse.
 * TOTALS_STEP adds (+) or takes away (-) one student row (NEW or OLD) from its lab's.
 */
#define TOTALS_STEP(sign, row)                                                                     \
	"  UPDATE lab_totals SET students = students " sign " 1,"                                   \
	"    overrides = overrides " sign " (" row ".quota_seconds IS NOT NULL),"                   \
	"    override_seconds = override_seconds " sign " coalesce(" row ".quota_seconds, 0)"       \
	"  WHERE lab_id = " row ".lab_id;"

static const char schema_v3[] =
	"CREATE TABLE lab_totals ("
	"  lab_id INTEGER PRIMARY KEY,"
	"  students INTEGER NOT NULL DEFAULT 0,"
	"  overrides INTEGER NOT NULL DEFAULT 0,"
	"  override_seconds INTEGER NOT NULL DEFAULT 0);"
	"INSERT INTO lab_totals (lab_id, students, overrides, override_seconds) "
	"  SELECT l.id, count(s.id), count(s.quota_seconds), coalesce(sum(s.quota_seconds), 0) "
	"  FROM labs l LEFT JOIN students s ON s.lab_id = l.id GROUP BY l.id;"
	"CREATE TRIGGER lab_totals_lab_insert AFTER INSERT ON labs BEGIN"
	"  INSERT INTO lab_totals (lab_id) VALUES (NEW.id);"
	"END;"
	"CREATE TRIGGER lab_totals_lab_delete AFTER DELETE ON labs BEGIN"
	"  DELETE FROM lab_totals WHERE lab_id = OLD.id;"
	"END;"
	"CREATE TRIGGER lab_totals_student_insert AFTER INSERT ON students BEGIN"
	TOTALS_STEP("+", "NEW") "END;"
	"CREATE TRIGGER lab_totals_student_delete AFTER DELETE ON students BEGIN"
	TOTALS_STEP("-", "OLD") "END;"
	"CREATE TRIGGER lab_totals_student_update AFTER UPDATE OF lab_id, quota_seconds ON students"
	"  BEGIN" TOTALS_STEP("-", "OLD") TOTALS_STEP("+", "NEW") "END;";

/*
 * Version 4: a lock remembers its holder's start time (/proc/<pid>/stat field 22), so a
 * pid the kernel gave to another process since does not keep the lab locked. 0: unknown
 * (a lock taken before version 4, or where /proc is not readable).
 */
static const char schema_v4[] = "ALTER TABLE locks ADD COLUMN pid_start INTEGER NOT NULL DEFAULT 0;";

/*
 * Version 5: the hypervisor a lab's VMs live on (the connection's URI when its
 * first VM was made). A command connected elsewhere must not act on the lab:
 * "not found there" is not "gone".
 */
static const char schema_v5[] = "ALTER TABLE labs ADD COLUMN hv_uri TEXT;";

/*
 * Version 6: metering for the service (issue 10). run_intervals holds each student
 * VM's running time: end_ts NULL while open, last_seen the last heartbeat that saw it
 * running, closed_by how it was closed, uncertain_s how many seconds around its end are
 * not known (a service killed between heartbeats). One open interval per VM. The lab
 * and student are copied as names so a report outlives the VM record. The v2 usage
 * table (never written) is left as it is. Labs get the service's settings, students a
 * quota exemption and the quota at which the 90 % warning was last sent.
 */
static const char schema_v6[] =
	"CREATE TABLE run_intervals ("
	"  id INTEGER PRIMARY KEY,"
	"  lab_id INTEGER NOT NULL REFERENCES labs(id) ON DELETE CASCADE,"
	"  vm_name TEXT NOT NULL,"
	"  student TEXT NOT NULL,"
	"  start_ts INTEGER NOT NULL,"
	"  end_ts INTEGER CHECK (end_ts IS NULL OR end_ts >= start_ts),"
	"  last_seen INTEGER NOT NULL CHECK (last_seen >= start_ts),"
	"  closed_by TEXT CHECK (closed_by IN ('event', 'reconcile', 'service', 'clock')),"
	"  uncertain_s INTEGER NOT NULL DEFAULT 0 CHECK (uncertain_s >= 0),"
	"  CHECK ((end_ts IS NULL) = (closed_by IS NULL)));"
	"CREATE UNIQUE INDEX run_intervals_open ON run_intervals(vm_name) WHERE end_ts IS NULL;"
	"CREATE INDEX run_intervals_lab ON run_intervals(lab_id, start_ts);"
	"CREATE INDEX run_intervals_vm ON run_intervals(vm_name, start_ts);"
	"ALTER TABLE labs ADD COLUMN idle_minutes INTEGER NOT NULL DEFAULT 20"
	"  CHECK (idle_minutes BETWEEN 0 AND 10080);"
	"ALTER TABLE labs ADD COLUMN stop_mode TEXT NOT NULL DEFAULT 'shutdown'"
	"  CHECK (stop_mode IN ('shutdown', 'save'));"
	"ALTER TABLE labs ADD COLUMN lead_minutes INTEGER NOT NULL DEFAULT 10"
	"  CHECK (lead_minutes BETWEEN 0 AND 1440);"
	"ALTER TABLE labs ADD COLUMN stop_grace_seconds INTEGER NOT NULL DEFAULT 60"
	"  CHECK (stop_grace_seconds BETWEEN 0 AND 3600);"
	"ALTER TABLE students ADD COLUMN quota_exempt INTEGER NOT NULL DEFAULT 0"
	"  CHECK (quota_exempt IN (0, 1));"
	"ALTER TABLE students ADD COLUMN quota_warned_seconds INTEGER;";

/*
 * Version 7: the web page (issue 11). An invitation is a one-time link: only the
 * SHA-256 of its token is kept, and taking it (used_ts) makes it a session, whose
 * token is kept the same way. A student's rows go with the student; an admin's have
 * no student. csrf is the session's form token (not a credential by itself).
 */
static const char schema_v7[] =
	"CREATE TABLE web_invites ("
	"  id INTEGER PRIMARY KEY,"
	"  token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),"
	"  role TEXT NOT NULL CHECK (role IN ('student', 'admin')),"
	"  student_id INTEGER REFERENCES students(id) ON DELETE CASCADE,"
	"  created_ts INTEGER NOT NULL,"
	"  used_ts INTEGER,"
	"  CHECK ((role = 'admin') = (student_id IS NULL)));"
	"CREATE INDEX web_invites_student ON web_invites(student_id);"
	"CREATE TABLE web_sessions ("
	"  id INTEGER PRIMARY KEY,"
	"  token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),"
	"  role TEXT NOT NULL CHECK (role IN ('student', 'admin')),"
	"  student_id INTEGER REFERENCES students(id) ON DELETE CASCADE,"
	"  csrf TEXT NOT NULL,"
	"  created_ts INTEGER NOT NULL,"
	"  expires_ts INTEGER NOT NULL,"
	"  CHECK ((role = 'admin') = (student_id IS NULL)));"
	"CREATE INDEX web_sessions_student ON web_sessions(student_id);";

const char *const cl_store_migrations[] = {schema_v1, schema_v2, schema_v3, schema_v4, schema_v5,
					   schema_v6, schema_v7};
const int cl_store_migration_count = sizeof(cl_store_migrations) / sizeof(cl_store_migrations[0]);

/* Azure Lab Services' sizes (lab units per hour), as seeds/001 and 000 list them. */
const cl_size cl_store_builtin_sizes[] = {
	{"small", 20, 2, 3584, 0, true},
	{"medium", 42, 4, 7168, 0, true},
	{"medium-nested", 55, 4, 16384, 0, true},
	{"large", 70, 8, 16384, 0, true},
	{"large-nested", 84, 8, 32768, 0, true},
	{"small-gpu-compute", 139, 6, 57344, 1, true},
	{"small-gpu-visualization", 160, 6, 57344, 1, true},
	{"medium-gpu-visualization", 408, 12, 114688, 2, true},
};
const size_t cl_store_builtin_size_count =
	sizeof(cl_store_builtin_sizes) / sizeof(cl_store_builtin_sizes[0]);
