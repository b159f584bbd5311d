// docker-compose.yml: makes the MongoDB server a one-member replica set (rs0) the first time,
// then waits until it has a primary, so that the services start against a writable server.
try {
  rs.status();
} catch (error) {
  rs.initiate({ _id: "rs0", members: [{ _id: 0, host: "mongo:27017" }] });
}
const deadline = Date.now() + 60000;
while (!db.hello().isWritablePrimary) {
  if (Date.now() > deadline) {
    print("the replica set has no primary after 60 s");
    quit(1);
  }
  sleep(250);
}
print("replica set rs0 is ready");
