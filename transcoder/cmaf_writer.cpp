#include "transcoder/cmaf_writer.h"

#include <cstdio>
#include <cstring>

namespace newsreel::transcoder {
namespace {

// Big-endian byte appenders and boxes whose size is patched when they close.
class Bytes {
 public:
  void U8(uint32_t v) { s_.push_back(static_cast<char>(v & 0xff)); }
  void U16(uint32_t v) {
    U8(v >> 8);
    U8(v);
  }
  void U24(uint32_t v) {
    U8(v >> 16);
    U16(v);
  }
  void U32(uint32_t v) {
    U16(v >> 16);
    U16(v);
  }
  void U64(uint64_t v) {
    U32(static_cast<uint32_t>(v >> 32));
    U32(static_cast<uint32_t>(v));
  }
  void Zeros(size_t n) { s_.append(n, '\0'); }
  void Raw(std::string_view b) { s_.append(b); }
  void Tag(const char* fourcc) { s_.append(fourcc, 4); }

  // Opens a box: returns where its size goes; Close() writes it.
  size_t Open(const char* fourcc) {
    const size_t at = s_.size();
    U32(0);
    Tag(fourcc);
    return at;
  }
  size_t OpenFull(const char* fourcc, uint32_t version, uint32_t flags) {
    const size_t at = Open(fourcc);
    U8(version);
    U24(flags);
    return at;
  }
  void Close(size_t at) { Patch32(at, static_cast<uint32_t>(s_.size() - at)); }
  void Patch32(size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) s_[at + i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  }
  size_t size() const { return s_.size(); }
  std::string Take() { return std::move(s_); }

 private:
  std::string s_;
};

void Matrix(Bytes& b) {
  const uint32_t m[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
  for (uint32_t v : m) b.U32(v);
}

void Track(Bytes& b, uint32_t id, uint32_t timescale, bool video, const CmafVideoConfig& v,
           const std::optional<CmafAudioConfig>& a) {
  const size_t trak = b.Open("trak");
  const size_t tkhd = b.OpenFull("tkhd", 0, 0x3);  // enabled, in movie
  b.U32(0);                                        // creation time
  b.U32(0);                                        // modification time
  b.U32(id);
  b.U32(0);  // reserved
  b.U32(0);  // duration: the fragments say
  b.Zeros(8);
  b.U16(0);                   // layer
  b.U16(video ? 0 : 1);       // alternate group
  b.U16(video ? 0 : 0x0100);  // volume
  b.U16(0);
  Matrix(b);
  b.U32(video ? static_cast<uint32_t>(v.width) << 16 : 0);
  b.U32(video ? static_cast<uint32_t>(v.height) << 16 : 0);
  b.Close(tkhd);

  const size_t mdia = b.Open("mdia");
  const size_t mdhd = b.OpenFull("mdhd", 0, 0);
  b.U32(0);
  b.U32(0);
  b.U32(timescale);
  b.U32(0);
  b.U16(0x55c4);  // "und"
  b.U16(0);
  b.Close(mdhd);
  const size_t hdlr = b.OpenFull("hdlr", 0, 0);
  b.U32(0);
  b.Tag(video ? "vide" : "soun");
  b.Zeros(12);
  b.Raw(video ? std::string_view("Video\0", 6) : std::string_view("Audio\0", 6));
  b.Close(hdlr);

  const size_t minf = b.Open("minf");
  if (video) {
    const size_t vmhd = b.OpenFull("vmhd", 0, 1);
    b.Zeros(8);
    b.Close(vmhd);
  } else {
    const size_t smhd = b.OpenFull("smhd", 0, 0);
    b.Zeros(4);
    b.Close(smhd);
  }
  const size_t dinf = b.Open("dinf");
  const size_t dref = b.OpenFull("dref", 0, 0);
  b.U32(1);
  const size_t url = b.OpenFull("url ", 0, 1);  // the media is in this file
  b.Close(url);
  b.Close(dref);
  b.Close(dinf);

  const size_t stbl = b.Open("stbl");
  const size_t stsd = b.OpenFull("stsd", 0, 0);
  b.U32(1);
  if (video) {
    const size_t avc1 = b.Open("avc1");
    b.Zeros(6);
    b.U16(1);  // data reference index
    b.Zeros(16);
    b.U16(static_cast<uint32_t>(v.width));
    b.U16(static_cast<uint32_t>(v.height));
    b.U32(0x00480000);  // 72 dpi
    b.U32(0x00480000);
    b.U32(0);
    b.U16(1);  // frame count
    b.Zeros(32);
    b.U16(0x0018);
    b.U16(0xffff);
    const size_t avcc = b.Open("avcC");
    b.U8(1);
    b.U8(v.sps.size() > 1 ? static_cast<uint8_t>(v.sps[1]) : 0x64);
    b.U8(v.sps.size() > 2 ? static_cast<uint8_t>(v.sps[2]) : 0);
    b.U8(v.sps.size() > 3 ? static_cast<uint8_t>(v.sps[3]) : 0x1f);
    b.U8(0xff);  // 4-byte NAL lengths
    b.U8(0xe1);  // one SPS
    b.U16(static_cast<uint32_t>(v.sps.size()));
    b.Raw(v.sps);
    b.U8(1);  // one PPS
    b.U16(static_cast<uint32_t>(v.pps.size()));
    b.Raw(v.pps);
    b.Close(avcc);
    b.Close(avc1);
  } else {
    const size_t mp4a = b.Open("mp4a");
    b.Zeros(6);
    b.U16(1);
    b.Zeros(8);
    b.U16(static_cast<uint32_t>(a->channels));
    b.U16(16);
    b.U32(0);
    b.U32(static_cast<uint32_t>(a->sample_rate) << 16);
    // esds: ES_Descriptor > DecoderConfigDescriptor > DecoderSpecificInfo, SLConfigDescriptor.
    const size_t esds = b.OpenFull("esds", 0, 0);
    const uint32_t dsi = static_cast<uint32_t>(a->asc.size());
    const uint32_t dcd = 13 + 2 + dsi;
    b.U8(0x03);
    b.U8(3 + 2 + dcd + 3);
    b.U16(0);  // ES_ID
    b.U8(0);   // flags
    b.U8(0x04);
    b.U8(dcd);
    b.U8(0x40);  // MPEG-4 audio
    b.U8(0x15);  // audio stream
    b.U24(0);    // buffer size
    b.U32(0);    // max bitrate
    b.U32(0);    // average bitrate
    b.U8(0x05);
    b.U8(dsi);
    b.Raw(a->asc);
    b.U8(0x06);
    b.U8(1);
    b.U8(0x02);
    b.Close(esds);
    b.Close(mp4a);
  }
  b.Close(stsd);
  for (const char* empty : {"stts", "stsc", "stsz", "stco"}) {
    const size_t box = b.OpenFull(empty, 0, 0);
    if (std::strcmp(empty, "stsz") == 0) b.U32(0);  // sample size
    b.U32(0);                                       // entries
    b.Close(box);
  }
  b.Close(stbl);
  b.Close(minf);
  b.Close(mdia);
  b.Close(trak);
}

}  // namespace

std::string CmafInitSegment(const CmafVideoConfig& video,
                            const std::optional<CmafAudioConfig>& audio) {
  Bytes b;
  const size_t ftyp = b.Open("ftyp");
  b.Tag("iso6");
  b.U32(0);
  for (const char* brand : {"iso6", "cmfc", "mp41", "dash"}) b.Tag(brand);
  b.Close(ftyp);

  const size_t moov = b.Open("moov");
  const size_t mvhd = b.OpenFull("mvhd", 0, 0);
  b.U32(0);
  b.U32(0);
  b.U32(1000);  // timescale
  b.U32(0);     // duration
  b.U32(0x00010000);
  b.U16(0x0100);
  b.Zeros(10);
  Matrix(b);
  b.Zeros(24);
  b.U32(audio ? 3 : 2);  // next track id
  b.Close(mvhd);
  Track(b, kCmafVideoTrack, kCmafVideoTimescale, true, video, audio);
  if (audio)
    Track(b, kCmafAudioTrack, static_cast<uint32_t>(audio->sample_rate), false, video, audio);
  const size_t mvex = b.Open("mvex");
  for (uint32_t id = 1; id <= (audio ? 2u : 1u); ++id) {
    const size_t trex = b.OpenFull("trex", 0, 0);
    b.U32(id);
    b.U32(1);  // sample description index
    b.U32(0);
    b.U32(0);
    b.U32(0);
    b.Close(trex);
  }
  b.Close(mvex);
  b.Close(moov);
  return b.Take();
}

std::string CmafFragment(uint32_t sequence_number, const CmafRun& run) {
  if (run.samples.empty()) return {};
  Bytes b;
  const size_t moof = b.Open("moof");
  const size_t mfhd = b.OpenFull("mfhd", 0, 0);
  b.U32(sequence_number);
  b.Close(mfhd);
  const size_t traf = b.Open("traf");
  const size_t tfhd = b.OpenFull("tfhd", 0, 0x020000);  // default-base-is-moof
  b.U32(run.track_id);
  b.Close(tfhd);
  const size_t tfdt = b.OpenFull("tfdt", 1, 0);
  b.U64(run.base_decode_time);
  b.Close(tfdt);
  // data offset, and per sample: duration, size, flags, composition offset (signed: version 1).
  const size_t trun = b.OpenFull("trun", 1, 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800);
  b.U32(static_cast<uint32_t>(run.samples.size()));
  const size_t data_offset_at = b.size();
  b.U32(0);
  for (const CmafSample& s : run.samples) {
    b.U32(s.duration);
    b.U32(s.size);
    // sample_depends_on 2 (depends on no other) for sync samples; 1 and non-sync otherwise.
    b.U32(s.sync ? 0x02000000 : 0x01010000);
    b.U32(static_cast<uint32_t>(s.composition_offset));
  }
  b.Close(trun);
  b.Close(traf);
  b.Close(moof);
  b.Patch32(data_offset_at, static_cast<uint32_t>(b.size() + 8));  // from moof's first byte
  const size_t mdat = b.Open("mdat");
  b.Raw(run.data);
  b.Close(mdat);
  return b.Take();
}

AvcSample AvcSampleFromAnnexB(std::string_view in) {
  AvcSample out;
  // Start codes: 00 00 01 (a leading zero of 00 00 00 01 ends the NAL before it; trailing zeros
  // of a NAL are stripped).
  auto next_start = [&](size_t from, size_t* code_len) -> size_t {
    for (size_t i = from; i + 3 <= in.size(); ++i) {
      if (in[i] == 0 && in[i + 1] == 0 && in[i + 2] == 1) {
        *code_len = 3;
        return i;
      }
    }
    return std::string_view::npos;
  };
  size_t len = 0;
  size_t at = next_start(0, &len);
  while (at != std::string_view::npos) {
    const size_t begin = at + len;
    size_t next = next_start(begin, &len);
    size_t end = next == std::string_view::npos ? in.size() : next;
    while (end > begin && in[end - 1] == 0) --end;
    if (end > begin) {
      const std::string_view nal = in.substr(begin, end - begin);
      const int type = static_cast<uint8_t>(nal[0]) & 0x1f;
      if (type == 7) out.sps.assign(nal);
      if (type == 8) out.pps.assign(nal);
      if (type != 9) {
        if (type == 5) out.idr = true;
        const uint32_t n = static_cast<uint32_t>(nal.size());
        const char size[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                              static_cast<char>(n >> 8), static_cast<char>(n)};
        out.data.append(size, 4);
        out.data.append(nal);
      }
    }
    at = next;
  }
  return out;
}

Result<std::vector<std::string_view>> SplitAdtsFrames(std::string_view adts,
                                                      CmafAudioConfig* config) {
  static constexpr int kRates[] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                   22050, 16000, 12000, 11025, 8000,  7350};
  std::vector<std::string_view> frames;
  size_t at = 0;
  while (at < adts.size()) {
    if (adts.size() - at < 7) return InvalidArgument("a cut ADTS header");
    const auto* p = reinterpret_cast<const uint8_t*>(adts.data() + at);
    if (p[0] != 0xff || (p[1] & 0xf0) != 0xf0) return InvalidArgument("no ADTS sync word");
    const bool crc = (p[1] & 0x01) == 0;
    const int profile = (p[2] >> 6) + 1;  // audio object type
    const int rate_index = (p[2] >> 2) & 0x0f;
    const int channels = ((p[2] & 0x01) << 2) | (p[3] >> 6);
    const size_t length = ((p[3] & 0x03) << 11) | (p[4] << 3) | (p[5] >> 5);
    const size_t header = crc ? 9 : 7;
    if (rate_index > 12) return InvalidArgument("an ADTS frame with a reserved sample rate");
    if (length <= header || length > adts.size() - at) return InvalidArgument("a cut ADTS frame");
    if (frames.empty() && config != nullptr) {
      config->sample_rate = kRates[rate_index];
      config->channels = channels == 0 ? 2 : channels;
      const uint32_t asc = (profile << 11) | (rate_index << 7) | (channels << 3);
      config->asc = {static_cast<char>(asc >> 8), static_cast<char>(asc & 0xff)};
    }
    frames.push_back(adts.substr(at + header, length - header));
    at += length;
  }
  return frames;
}

std::string AvcCodecsOfSps(const std::string& sps) {
  if (sps.size() < 4) return "avc1.64001f";
  char codecs[16];
  std::snprintf(codecs, sizeof codecs, "avc1.%02x%02x%02x", static_cast<uint8_t>(sps[1]),
                static_cast<uint8_t>(sps[2]), static_cast<uint8_t>(sps[3]));
  return codecs;
}

}  // namespace newsreel::transcoder
