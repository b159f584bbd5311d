// docker-compose.yml: logs in as the administrator (which the mongo image created on its first
// start), makes the MongoDB server a one-member replica set (rs0) the first time, waits until it
// has a primary, then creates every service's user from mongo/users.json (generated from
// warren-manifest; the local server gets the same file through scripts/lib/mongo_users.py), or
// sets the password and roles of one that exists. Passwords come from the environment.
const fs = require("fs");
const definition = JSON.parse(fs.readFileSync(process.env.MONGO_USERS, "utf8"));

function password(variable) {
  const value = process.env[variable];
  if (!value) {
    print(`${variable} is not set`);
    quit(1);
  }
  return value;
}

const admin = definition.admin;
db.getSiblingDB(admin.db).auth({
  user: admin.user,
  pwd: password(admin.password_variable),
  mechanism: "SCRAM-SHA-256",
});

try {
  rs.status();
} catch (error) {
  if (error.codeName !== "NotYetInitialized") throw error;
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

for (const user of definition.users) {
  const database = db.getSiblingDB(user.db);
  const fields = {
    pwd: password(user.password_variable),
    roles: user.roles,
    mechanisms: ["SCRAM-SHA-256"],
  };
  if (database.getUser(user.user) === null) {
    database.createUser({ user: user.user, ...fields });
    print(`created ${user.user} on ${user.db}`);
  } else {
    database.updateUser(user.user, fields);
    print(`updated ${user.user} on ${user.db}`);
  }
}
