// PENDING placeholder (train module is written next).
namespace win::train {}
