// KafkaJS transactions against the Eddy broker: a committed transaction with sendOffsets, an
// aborted one, and a read_committed consumer (readUncommitted: false) that sees exactly the
// committed records. usage: node transactions.js BOOTSTRAP TOPIC; prints "ok <n>".
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic] = process.argv.slice(2);
const kafka = new Kafka({ clientId: 'eddy-kafkajs-txn', brokers: [bootstrap], logLevel: logLevel.WARN });

async function main() {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  const producer = kafka.producer({ transactionalId: `tx-${topic}`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const committed = Array.from({ length: 20 }, (_, i) => `c${i}`);
  let txn = await producer.transaction();
  await txn.send({ topic, messages: committed.map((v, i) => ({ key: `k${i}`, value: v, partition: i % 2 })) });
  await txn.sendOffsets({
    consumerGroupId: `g-${topic}`,
    topics: [{ topic, partitions: [{ partition: 0, offset: '5' }] }],
  });
  await txn.commit();
  txn = await producer.transaction();
  await txn.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `a${i}`, partition: i % 2 })) });
  await txn.abort();
  await producer.disconnect();

  const offsets = await admin.fetchOffsets({ groupId: `g-${topic}`, topics: [topic] });
  const p0 = offsets[0].partitions.find((p) => p.partition === 0);
  if (p0.offset !== '5') throw new Error(`committed offset ${JSON.stringify(offsets)}`);
  await admin.disconnect();

  const consumer = kafka.consumer({ groupId: `r-${topic}`, readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${seen}`)), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString());
        if (seen.length === committed.length) { clearTimeout(timer); setTimeout(resolve, 1000); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  const got = [...seen].sort();
  if (JSON.stringify(got) !== JSON.stringify([...committed].sort())) throw new Error(`read_committed saw ${got}`);
  console.log(`ok ${seen.length}`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
