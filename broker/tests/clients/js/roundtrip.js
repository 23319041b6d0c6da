// KafkaJS round trip against the Eddy broker: keys, headers, gzip, a consumer group, offsets.
// usage: node roundtrip.js BOOTSTRAP TOPIC
// TLS: $EDDY_SSL_CA (and $EDDY_SSL_CERT, $EDDY_SSL_KEY for a client certificate), PEM files.
const fs = require('fs');
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

const [bootstrap, topic] = process.argv.slice(2);
const env = process.env;
const ssl = env.EDDY_SSL_CA ? {
  ca: [fs.readFileSync(env.EDDY_SSL_CA)],
  ...(env.EDDY_SSL_CERT ? { cert: fs.readFileSync(env.EDDY_SSL_CERT), key: fs.readFileSync(env.EDDY_SSL_KEY) } : {}),
} : undefined;
const kafka = new Kafka({ clientId: 'eddy-kafkajs', brokers: [bootstrap], ssl, logLevel: logLevel.WARN });

async function main() {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const messages = Array.from({ length: 50 }, (_, i) => ({
    key: `k${i % 5}`, value: `v${i}`, headers: { seq: `${i}` },
  }));
  await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: messages.slice(0, 25) });
  await producer.send({ topic, acks: -1, messages: messages.slice(25) });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `g-${topic}`, sessionTimeout: 10000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = new Map();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${seen.size} messages`)), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.set(message.value.toString(), { key: message.key.toString(), seq: message.headers.seq.toString() });
        if (seen.size === messages.length) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  for (let i = 0; i < messages.length; i++) {
    const got = seen.get(`v${i}`);
    if (!got || got.key !== `k${i % 5}` || got.seq !== `${i}`) throw new Error(`message v${i} wrong: ${JSON.stringify(got)}`);
  }
  const offsets = await admin.fetchOffsets({ groupId: `g-${topic}`, topics: [topic] });
  const committed = offsets[0].partitions.reduce((sum, p) => sum + Number(p.offset), 0);
  if (committed !== messages.length) throw new Error(`committed offsets sum to ${committed}, expected ${messages.length}`);
  await admin.disconnect();
  console.log(`ok ${seen.size}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
