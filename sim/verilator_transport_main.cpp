// The board's top level (UART included) under Verilator, driven over stdin/stdout.
//
// sim/verilator_transport.py builds this file with the Verilated `spikeloom_board` (prefix Vboard)
// and talks to it with a little binary protocol, every number little-endian:
//
//   started:  -> 'H' u32 version u64 divisor
//   'W' u32 n, n bytes          queue the bytes for `rx` (no reply)
//   'R' u64 max_cycles u32 max_bytes u32 idle_cycles
//                               run until `max_bytes` bytes came out of `tx`, or some did and the
//                               line then stayed idle for `idle_cycles`, or `max_cycles` passed
//                            -> 'R' u64 cycles u32 framing_errors u32 n, n bytes
//   end of input                flush the waveform and exit
//
// Both lines are 8N1 at `divisor` clock cycles per bit, as a host's UART sends and samples them,
// so simulated time is exactly what the bytes take on a real link at that baud rate.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "Vboard.h"
#include "verilated.h"
#if VM_TRACE_FST
#include "verilated_fst_c.h"
typedef VerilatedFstC Trace;
#elif VM_TRACE
#include "verilated_vcd_c.h"
typedef VerilatedVcdC Trace;
#endif

namespace {

const uint32_t VERSION = 1;
const int RESET_CYCLES = 4;

bool read_exact(void *buffer, size_t size) {
    char *at = static_cast<char *>(buffer);
    while (size) {
        ssize_t got = read(0, at, size);
        if (got <= 0) return false;
        at += got;
        size -= static_cast<size_t>(got);
    }
    return true;
}

void write_exact(const void *buffer, size_t size) {
    const char *at = static_cast<const char *>(buffer);
    while (size) {
        ssize_t put = write(1, at, size);
        if (put <= 0) std::exit(3);  // the host went away: nobody is left to answer
        at += put;
        size -= static_cast<size_t>(put);
    }
}

template <typename T> void append(std::vector<char> &out, T value) {
    const char *bytes = reinterpret_cast<const char *>(&value);
    out.insert(out.end(), bytes, bytes + sizeof(T));
}

// Host -> board: each byte as start bit, 8 data bits LSB first, stop bit, back to back.
class LineDriver {
  public:
    explicit LineDriver(uint32_t divisor) : divisor_(divisor) {}
    void queue(const std::vector<uint8_t> &bytes) {
        pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    }
    // The level of `rx` for the next cycle.
    uint8_t next() {
        if (bit_ == 10) {
            if (pending_.empty()) return 1;
            frame_ = 0x200u | static_cast<uint32_t>(pending_.front()) << 1;  // stop, data, start
            pending_.pop_front();
            bit_ = 0;
            left_ = divisor_;
        }
        uint8_t level = (frame_ >> bit_) & 1;
        if (--left_ == 0) {
            ++bit_;
            left_ = divisor_;
        }
        return level;
    }

  private:
    uint32_t divisor_;
    std::deque<uint8_t> pending_;
    uint32_t frame_ = 0, bit_ = 10, left_ = 0;
};

// Board -> host: a falling edge starts a frame; every bit is sampled in its middle.
class LineDecoder {
  public:
    explicit LineDecoder(uint32_t divisor) : divisor_(divisor) {}
    std::vector<uint8_t> bytes;
    uint32_t framing_errors = 0;
    uint64_t quiet = 0;  // cycles the line has been idle outside a frame

    void sample(uint8_t tx) {
        if (state_ == IDLE) {
            if (prev_ && !tx) {
                state_ = START;
                left_ = divisor_ / 2;
                quiet = 0;
            } else {
                ++quiet;
            }
        } else if (--left_ == 0) {
            left_ = divisor_;
            if (state_ == START) {
                state_ = tx ? IDLE : DATA;  // a glitch shorter than half a bit is no start bit
                bits_ = 0;
                shift_ = 0;
            } else if (state_ == DATA) {
                shift_ |= static_cast<uint32_t>(tx) << bits_;
                if (++bits_ == 8) state_ = STOP;
            } else {
                if (tx) {
                    bytes.push_back(static_cast<uint8_t>(shift_));
                } else {
                    ++framing_errors;
                }
                state_ = IDLE;
            }
        }
        prev_ = tx;
    }

  private:
    enum State { IDLE, START, DATA, STOP };
    uint32_t divisor_;
    State state_ = IDLE;
    uint32_t left_ = 0, bits_ = 0, shift_ = 0;
    uint8_t prev_ = 1;
};

}  // namespace

int main(int argc, char **argv) {
    uint32_t divisor = 0;
    double clock_hz = 0;
    const char *trace_path = nullptr;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i];
        if (flag == "--divisor") {
            divisor = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
        } else if (flag == "--clock-hz") {
            clock_hz = std::strtod(argv[i + 1], nullptr);
        } else if (flag == "--trace") {
            trace_path = argv[i + 1];
        }
    }
    if (divisor < 4 || clock_hz <= 0) {
        std::fprintf(stderr, "usage: %s --divisor N (>= 4) --clock-hz F [--trace PATH]\n", argv[0]);
        return 2;
    }

    auto context = std::make_unique<VerilatedContext>();
    context->debug(0);
    auto top = std::make_unique<Vboard>(context.get());
#if VM_TRACE
    std::unique_ptr<Trace> trace;
    // Waveform time in picoseconds, so a viewer shows the board's real clock period.
    const uint64_t half_ps = static_cast<uint64_t>(5e11 / clock_hz + 0.5);
    if (trace_path) {
        context->traceEverOn(true);
        trace = std::make_unique<Trace>();
        top->trace(trace.get(), 99);
        trace->set_time_unit("1ps");
        trace->set_time_resolution("1ps");
        trace->open(trace_path);
    }
#else
    if (trace_path) {
        std::fprintf(stderr, "this build has no tracing; build it with waves\n");
        return 2;
    }
#endif

    LineDriver driver(divisor);
    LineDecoder decoder(divisor);
    uint64_t ticks = 0;  // every cycle simulated, the reset included (waveform time)
    uint64_t cycles = 0;  // cycles since the reset ended (the host's clock)

    auto tick = [&](uint8_t rx) {
        top->rx = rx;
        top->clk = 1;
        top->eval();
#if VM_TRACE
        if (trace) trace->dump(2 * ticks * half_ps);
#endif
        top->clk = 0;
        top->eval();
#if VM_TRACE
        if (trace) trace->dump((2 * ticks + 1) * half_ps);
#endif
        ++ticks;
    };

    top->clk = 0;
    top->rst = 1;
    top->rx = 1;
    top->eval();
    for (int i = 0; i < RESET_CYCLES; ++i) tick(1);
    top->rst = 0;
    top->eval();

    std::vector<char> out;
    out.push_back('H');
    append<uint32_t>(out, VERSION);
    append<uint64_t>(out, divisor);
    write_exact(out.data(), out.size());

    for (;;) {
        char op;
        if (!read_exact(&op, 1)) break;
        if (op == 'W') {
            uint32_t size;
            if (!read_exact(&size, 4)) break;
            std::vector<uint8_t> bytes(size);
            if (size && !read_exact(bytes.data(), size)) break;
            driver.queue(bytes);
        } else if (op == 'R') {
            uint64_t max_cycles;
            uint32_t max_bytes, idle_cycles;
            if (!read_exact(&max_cycles, 8) || !read_exact(&max_bytes, 4) ||
                !read_exact(&idle_cycles, 4)) {
                break;
            }
            auto done = [&] {
                size_t have = decoder.bytes.size();
                return have >= max_bytes || (have && decoder.quiet >= idle_cycles);
            };
            for (uint64_t run = 0; run < max_cycles && !done(); ++run) {
                tick(driver.next());
                ++cycles;
                decoder.sample(top->tx);
            }
            size_t count = std::min<size_t>(decoder.bytes.size(), max_bytes);
            out.clear();
            out.push_back('R');
            append<uint64_t>(out, cycles);
            append<uint32_t>(out, decoder.framing_errors);
            append<uint32_t>(out, static_cast<uint32_t>(count));
            out.insert(out.end(), decoder.bytes.begin(), decoder.bytes.begin() + count);
            decoder.bytes.erase(decoder.bytes.begin(), decoder.bytes.begin() + count);
            write_exact(out.data(), out.size());
        } else {
            std::fprintf(stderr, "unknown command byte 0x%02x\n", static_cast<unsigned char>(op));
            return 2;
        }
    }
#if VM_TRACE
    if (trace) trace->close();
#endif
    top->final();
    return 0;
}
