// KafkaJS over SASL_PLAINTEXT against the Eddy broker.
// usage: node sasl.js BOOTSTRAP MECHANISM USER PASSWORD TOPIC   produce 20, consume them in a group: "ok 20"
//        node sasl.js BOOTSTRAP MECHANISM USER PASSWORD --login  metadata only: "ok" or "error: <message>"
// MECHANISM is KafkaJS's name: plain, scram-sha-256, scram-sha-512.
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, mechanism, username, password, topic] = process.argv.slice(2);
const kafka = new Kafka({
  clientId: 'eddy-kafkajs-sasl',
  brokers: [bootstrap],
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
  const producer = kafka.producer();
  await producer.connect();
  const messages = Array.from({ length: 20 }, (_, i) => ({ key: 'k', value: `v${i}` }));
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `g-${topic}`, sessionTimeout: 10000, heartbeatInterval: 500 });
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
  console.log(`ok ${seen.size}`);
}

(topic === '--login' ? login() : roundtrip()).catch((e) => { console.error(e); process.exit(1); });
