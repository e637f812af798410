DROP TRIGGER api_clients_wake_principals ON api_clients;
DROP TRIGGER care_units_wake_principals ON care_units;
DROP TRIGGER user_units_wake_principals ON user_units;
DROP TRIGGER users_wake_principals ON users;
