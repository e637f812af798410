DROP TABLE feed_positions;
DROP TABLE scores;
DROP TABLE scoring_runs;
