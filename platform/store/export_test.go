package store

// MigrationLockKey is the advisory lock Migrate takes on PostgreSQL.
const MigrationLockKey = migrationLockKey
