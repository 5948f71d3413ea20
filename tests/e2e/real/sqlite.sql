-- tests/e2e/real/sqlite.sql - the sqlite3 shell's workload for
-- tests/e2e/real_programs.sh: tables, tens of thousands of rows inserted
-- in transactions (recursive CTEs), an index, aggregate queries, a join,
-- deletes, VACUUM. Ends with a check the suite reads: "check ok".
PRAGMA journal_mode = WAL;
-- Worker threads for the sorter (CREATE INDEX, ORDER BY) with a small
-- cache, so that the shell runs multi-threaded too.
PRAGMA threads = 4;
PRAGMA cache_size = 64;
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER NOT NULL REFERENCES customers(id),
	amount REAL NOT NULL, note TEXT, created INTEGER NOT NULL);

BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO customers (id, name, region)
	SELECT i, 'customer-' || i, char(65 + i % 5) FROM n;
COMMIT;

BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO orders (customer, amount, note, created)
	SELECT 1 + (i * 7919) % 2000, (i % 997) / 7.0,
		substr(hex(randomblob(64)), 1, 10 + i % 100), 1700000000 + i * 13 FROM n;
COMMIT;

BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO orders (customer, amount, note, created)
	SELECT 1 + (i * 104729) % 2000, (i % 499) / 3.0, printf('batch2 %08d', i),
		1800000000 + i * 7 FROM n;
COMMIT;

CREATE INDEX orders_customer ON orders (customer, created);
CREATE INDEX orders_amount ON orders (amount);

SELECT count(*), round(sum(amount), 2), round(avg(amount), 4), min(created), max(created) FROM orders;
SELECT c.region, count(*), round(sum(o.amount), 2), max(length(o.note))
	FROM orders o JOIN customers c ON c.id = o.customer GROUP BY c.region ORDER BY c.region;
SELECT customer, count(*) AS n, group_concat(id, ',') IS NOT NULL
	FROM orders GROUP BY customer ORDER BY n DESC, customer LIMIT 5;
SELECT count(DISTINCT note) FROM orders WHERE amount BETWEEN 10 AND 50;

BEGIN;
DELETE FROM orders WHERE id % 3 = 0;
UPDATE orders SET note = upper(note) WHERE customer % 10 = 0;
COMMIT;
VACUUM;
PRAGMA integrity_check;
SELECT CASE WHEN (SELECT count(*) FROM orders) = 40000 - 40000 / 3
	THEN 'check ok' ELSE 'check FAILED' END;
