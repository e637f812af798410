DROP TABLE pull_state;
