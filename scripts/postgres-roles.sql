-- The product's own role (ADR 0062): it logs in, owns nothing, and gets its rights from the
-- migrations, which run as the owner. docker-compose runs this once, when the volume is new;
-- ./bin/demo and CI make the same role themselves (scripts/services.py).
CREATE ROLE traf3li_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'traf3li-app';
