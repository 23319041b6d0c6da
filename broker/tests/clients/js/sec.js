// KafkaJS over SASL_SSL or SASL_PLAINTEXT (broker/tests/security_clients.rs).
// usage: node sec.js BOOTSTRAP MECHANISM USER PASSWORD TOPIC    admin create TOPIC + list topics,
//                                                               produce 20, consume them in a group: "ok 20"
//        node sec.js BOOTSTRAP MECHANISM USER PASSWORD --login  list topics only: "ok" or "error: <message>"
// MECHANISM is KafkaJS's name: plain, scram-sha-256, scram-sha-512. TLS when $EDDY_SSL_CA names
// the CA's PEM file.
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, mechanism, username, password, topic] = process.argv.slice(2);
const ssl = process.env.EDDY_SSL_CA ? { ca: [fs.readFileSync(process.env.EDDY_SSL_CA)] } : undefined;
const kafka = new Kafka({
  clientId: 'eddy-kafkajs-sec',
  brokers: [bootstrap],
  ssl,
  sasl: { mechanism, username, password },
  logLevel: logLevel.NOTHING,
  retry: { retries: topic === '--login' ? 0 : 5 },
});

async function login() {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    console.log('ok');
  } catch (e) {
    console.log(`error: ${e.name}: ${e.message}`);
  } finally {
    await admin.disconnect();
  }
}

async function roundtrip() {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) throw new Error(`${topic} not listed: ${topics}`);
  const producer = kafka.producer();
  await producer.connect();
  const messages = Array.from({ length: 20 }, (_, i) => ({ key: `k${i % 4}`, value: `v${i}` }));
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();
  const groupId = `g-${topic}`;
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = new Set();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${seen.size} messages`)), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.add(message.value.toString());
        if (seen.size === messages.length) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  // The group's committed offsets add up to what was read.
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
  const committed = offsets[0].partitions.reduce((n, p) => n + Number(p.offset), 0);
  await admin.disconnect();
  if (committed !== messages.length) throw new Error(`committed ${committed}`);
  console.log(`ok ${seen.size}`);
}

(topic === '--login' ? login() : roundtrip()).catch((e) => { console.error(e); process.exit(1); });
