DROP TABLE webhook_fanout;
