import { z } from "zod";

// zod compiles a validator the first time a schema parses; a strata command parses each document
// once or a few times, where compiling costs more than it saves (the lock's first parse: 6-12 ms
// with the compiler, 3 ms without; later parses equal).
z.config({ jitless: true });

export { z };
