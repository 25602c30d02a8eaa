-- A classlab database at schema version 1 (store/schema.c schema_v1, copied verbatim),
-- with data, as the foundation release wrote it. tests/cli/store.sh and test_store open
-- it and expect a migration to the latest version that keeps every row.
BEGIN;
CREATE TABLE sizes ( name TEXT PRIMARY KEY, lab_units INTEGER NOT NULL CHECK (lab_units >= 0), vcpus INTEGER NOT NULL CHECK (vcpus >= 0), memory_mib INTEGER NOT NULL CHECK (memory_mib >= 0), gpus INTEGER NOT NULL DEFAULT 0 CHECK (gpus >= 0), builtin INTEGER NOT NULL DEFAULT 0);
CREATE TABLE labs ( id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, size TEXT NOT NULL REFERENCES sizes(name) ON UPDATE CASCADE, image TEXT NOT NULL DEFAULT 'tiny', username TEXT NOT NULL DEFAULT 'student', scheduled_seconds INTEGER NOT NULL DEFAULT 0, quota_seconds INTEGER NOT NULL DEFAULT 0, price_micro INTEGER NOT NULL DEFAULT 10000, created_at INTEGER NOT NULL);
CREATE TABLE students ( id INTEGER PRIMARY KEY, lab_id INTEGER NOT NULL REFERENCES labs(id) ON DELETE CASCADE, name TEXT NOT NULL, email TEXT, quota_seconds INTEGER, ssh_public_key TEXT, UNIQUE (lab_id, name));
CREATE TABLE schedules ( id INTEGER PRIMARY KEY, lab_id INTEGER NOT NULL REFERENCES labs(id) ON DELETE CASCADE, start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL CHECK (end_ts > start_ts), weekly_until INTEGER NOT NULL DEFAULT 0);
CREATE INDEX schedules_lab ON schedules(lab_id);
INSERT INTO sizes VALUES ('small', 20, 2, 3584, 0, 1);
INSERT INTO sizes VALUES ('medium', 42, 4, 7168, 0, 1);
INSERT INTO sizes VALUES ('medium-nested', 55, 4, 16384, 0, 1);
INSERT INTO sizes VALUES ('large', 70, 8, 16384, 0, 1);
INSERT INTO sizes VALUES ('large-nested', 84, 8, 32768, 0, 1);
INSERT INTO sizes VALUES ('small-gpu-compute', 139, 6, 57344, 1, 1);
INSERT INTO sizes VALUES ('small-gpu-visualization', 160, 6, 57344, 1, 1);
INSERT INTO sizes VALUES ('medium-gpu-visualization', 408, 12, 114688, 2, 1);
INSERT INTO sizes VALUES ('old-custom', 33, 4, 8192, 1, 0);
-- 20 h scheduled, 10 h quota each (36000 s), $0.01.
INSERT INTO labs VALUES (1, 'ds101', 'small-gpu-compute', 'tiny', 'student', 72000, 36000, 10000, 1767225600);
INSERT INTO labs VALUES (2, 'old-lab', 'old-custom', '/images/ubuntu.qcow2', 'learner', 0, 7200, 20000, 1767225600);
INSERT INTO students VALUES (1, 1, 'alice', 'alice@example.org', NULL, NULL);
INSERT INTO students VALUES (2, 1, 'bob', NULL, 54000, NULL);
INSERT INTO students VALUES (3, 2, 'carol', 'carol@example.org', NULL, NULL);
-- Mondays 09:00-11:00 UTC from 2026-01-05, weekly until 2026-02-03 00:00: 5 events.
INSERT INTO schedules VALUES (1, 2, 1767603600, 1767610800, 1770076800);
PRAGMA user_version = 1;
COMMIT;
