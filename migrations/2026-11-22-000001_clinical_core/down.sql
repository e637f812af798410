DROP TABLE procedures;
DROP TABLE medication_requests;
DROP TABLE observations;
DROP TABLE conditions;
DROP TABLE encounters;
DROP TABLE patients;
