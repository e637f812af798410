DROP TABLE alert_feedback;
