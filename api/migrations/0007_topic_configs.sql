-- Kafka topic configurations a user set through the API beyond partitions and retention
-- (`cleanup.policy`, `max.message.bytes`, ...), as a JSON object of strings; the API writes
-- them into the topic's KafkaTopic.
ALTER TABLE topics ADD COLUMN configs TEXT NOT NULL DEFAULT '{}';
