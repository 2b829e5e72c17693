"""Real BioTek Cytation 5 support: serial protocol, pyserial driver, protocol emulator, Gen5 export writer/reader."""

from instruments.cytation.driver import CytationSerialReader, LinkSettings
from instruments.cytation.emulator import Cytation5Emulator, EmulatorTiming, gaussian_source, sim_reader_source
from instruments.cytation.folder import Gen5FolderReader
from instruments.cytation.gen5 import Gen5FormatError, Gen5Spectra, read_gen5_spectra, write_gen5_spectra
from instruments.cytation.gen5_data import Gen5DataSet
from instruments.cytation.gen5_tables import Gen5Export, read_gen5
from instruments.cytation.protocol import LinkTimeout, ProtocolError, StatusError

__all__ = ["CytationSerialReader", "LinkSettings", "Cytation5Emulator", "EmulatorTiming", "gaussian_source",
           "sim_reader_source", "Gen5FolderReader", "Gen5DataSet", "Gen5Export", "read_gen5", "Gen5FormatError",
           "Gen5Spectra", "read_gen5_spectra", "write_gen5_spectra", "LinkTimeout", "ProtocolError", "StatusError"]
