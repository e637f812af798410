DROP TABLE raw_resources;
